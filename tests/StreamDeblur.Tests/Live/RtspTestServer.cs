using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace StreamDeblur.Tests.Live;

/// <summary>
/// A real RTSP server on loopback (tests/tools/rtsp_server.py: GStreamer's gst-rtsp-server serving a live
/// H.264 test pattern). It can be stopped and started again on the same port to simulate an outage.
/// </summary>
public sealed class RtspTestServer : IDisposable
{
    private readonly string _user;
    private readonly string _password;
    private readonly int _width;
    private readonly int _height;
    private readonly int _fps;
    private readonly double _blurPeriod;
    private readonly int _bFrames;
    private Process? _process;

    public RtspTestServer(string path = "cam", string? user = null, string? password = null, int width = 320, int height = 240, int fps = 15, double blurPeriod = 0, int bFrames = 0)
    {
        _blurPeriod = blurPeriod;
        _bFrames = bFrames;
        Path = path;
        _user = user ?? "";
        _password = password ?? "";
        _width = width;
        _height = height;
        _fps = fps;
        Port = TestPaths.FreePort();
        Start();
    }

    public int Port { get; }

    public string Path { get; }

    public int ProcessId => _process?.Id ?? throw new InvalidOperationException("the server is not running");

    /// <summary>The URL without credentials.</summary>
    public string Url => $"rtsp://127.0.0.1:{Port}/{Path}";

    /// <summary>The URL with the given credentials in it.</summary>
    public string UrlWith(string user, string password) => $"rtsp://{user}:{password}@127.0.0.1:{Port}/{Path}";

    public void Start()
    {
        if (_process is not null)
        {
            throw new InvalidOperationException("the server is already running");
        }

        var args = new List<string>
        {
            System.IO.Path.Combine(TestPaths.RepoRoot, "tests", "tools", "rtsp_server.py"),
            "--port", Port.ToString(), "--path", Path, "--watch-stdin",
            "--width", _width.ToString(), "--height", _height.ToString(), "--fps", _fps.ToString(),
        };
        if (_bFrames > 0)
        {
            args.AddRange(["--bframes", _bFrames.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }

        if (_blurPeriod > 0)
        {
            args.AddRange(["--pattern", "smpte", "--blur-period", _blurPeriod.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }
        if (_user.Length > 0)
        {
            args.AddRange(["--user", _user, "--password", _password]);
        }

        var psi = new ProcessStartInfo("/usr/bin/python3", args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        Process process = Process.Start(psi)!;
        var deadline = Stopwatch.StartNew();
        Task<string?> line = process.StandardOutput.ReadLineAsync();
        if (!line.Wait(TimeSpan.FromSeconds(15)) || line.Result is not { } ready || !ready.StartsWith("READY ", StringComparison.Ordinal))
        {
            process.Kill(entireProcessTree: true);
            string errors = process.StandardError.ReadToEnd();
            throw new InvalidOperationException($"the RTSP server did not start on port {Port}: {errors}");
        }

        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        _process = process;
    }

    /// <summary>Kills the server at once (an outage, not a clean shutdown).</summary>
    public void Kill()
    {
        if (_process is { } process)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
            process.Dispose();
            _process = null;
        }
    }

    public void Dispose() => Kill();
}
