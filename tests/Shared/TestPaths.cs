using System.Diagnostics;
using System.Globalization;

namespace StreamDeblur.Tests;

/// <summary>Where the repository's shipped files are, and small helpers around real tools (ffprobe).</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    public static string SampleClip => Path.Combine(RepoRoot, "samples", "vtest-blur.mp4");

    public static string SampleTruth => Path.Combine(RepoRoot, "samples", "vtest-blur.truth.json");

    public static string ModelMetadata => Path.Combine(RepoRoot, "models", "deblur-fast.json");

    public static string TestData(params string[] parts) => Path.Combine([RepoRoot, "tests", "data", .. parts]);

    /// <summary>A TCP port on loopback that nothing listens on right now.</summary>
    public static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>A fresh temporary folder for one test.</summary>
    public static string TempDir(string name)
    {
        string dir = Path.Combine(Path.GetTempPath(), "streamdeblur-tests", $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string FindRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "StreamDeblur.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? throw new InvalidOperationException("cannot find the repository root (StreamDeblur.sln)");
    }
}

/// <summary>What ffprobe reads back from a video file.</summary>
public sealed record ProbeResult(string Codec, int Width, int Height, double Fps, int Frames);

/// <summary>One stream of a file as ffprobe sees it.</summary>
public sealed record ProbedStream(int Index, string Type, string Codec, double StartTime, double Duration);

public static class FfProbe
{
    /// <summary>Runs a tool (ffprobe, ffmpeg) and returns its stdout; throws with its stderr when it fails.</summary>
    public static string Tool(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process process = Process.Start(psi)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed: {errors}");
        }

        return output.Result;
    }

    /// <summary>Every stream of a file: type, codec, start time and duration (NaN where the container does not say).</summary>
    public static IReadOnlyList<ProbedStream> Streams(string path) =>
        Tool("ffprobe", "-v", "error", "-show_entries", "stream=index,codec_type,codec_name,start_time,duration", "-of", "csv=p=0", path)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split(','))
            .Select(f => new ProbedStream(int.Parse(f[0], CultureInfo.InvariantCulture), f[2], f[1], Number(f[3]), Number(f[4])))
            .ToList();

    /// <summary>The MD5 of every decoded video frame (ffmpeg's framemd5), without the timestamps: equal lists mean equal pictures.</summary>
    public static IReadOnlyList<string> FrameHashes(string path) =>
        Tool("ffmpeg", "-v", "error", "-i", path, "-map", "0:v:0", "-pix_fmt", "yuv420p", "-f", "framemd5", "-")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(line => !line.StartsWith('#'))
            .Select(line => line.Split(',').Last().Trim())
            .ToList();

    private static double Number(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) ? value : double.NaN;

    /// <summary>Decodes the whole file with ffprobe and counts the frames it can read.</summary>
    public static ProbeResult Probe(string path)
    {
        var psi = new ProcessStartInfo("ffprobe",
            ["-v", "error", "-select_streams", "v:0", "-count_frames",
             "-show_entries", "stream=codec_name,width,height,r_frame_rate,nb_read_frames", "-of", "default=noprint_wrappers=1", path])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process process = Process.Start(psi)!;
        string output = process.StandardOutput.ReadToEnd();
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ffprobe failed on {path}: {errors}");
        }

        var values = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('=', 2))
            .Where(kv => kv.Length == 2)
            .ToDictionary(kv => kv[0].Trim(), kv => kv[1].Trim());
        string[] rate = values["r_frame_rate"].Split('/');
        double fps = double.Parse(rate[0], CultureInfo.InvariantCulture) / (rate.Length > 1 ? double.Parse(rate[1], CultureInfo.InvariantCulture) : 1);
        return new ProbeResult(values["codec_name"], int.Parse(values["width"], CultureInfo.InvariantCulture),
            int.Parse(values["height"], CultureInfo.InvariantCulture), fps,
            int.Parse(values["nb_read_frames"], CultureInfo.InvariantCulture));
    }
}
