using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace StreamDeblur.Tests.Operations;

/// <summary>Small real video files for the operations tests, made once per test run with Debian's ffmpeg.</summary>
public static class OpsClips
{
    private static readonly string s_dir = TestPaths.TempDir("ops-clips");
    private static readonly ConcurrentDictionary<string, Lazy<string>> s_clips = new();

    /// <summary>The first 40 frames of the sample clip at half size (H.264): it has sharp and blurred frames.</summary>
    public static string ShortSample => Make("short-sample.mp4",
        "-i", TestPaths.SampleClip, "-frames:v", "40", "-vf", "scale=384:288", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p");

    /// <summary>The whole sample clip (150 frames) at half size, so a run lasts a few seconds; index first, as in the sample.</summary>
    public static string HalfSizeSample => Make("half-sample.mp4",
        "-i", TestPaths.SampleClip, "-vf", "scale=384:288", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart");

    /// <summary>The same, with the MP4 index (moov) at the end, where a plain ffmpeg or camera recording puts it.</summary>
    public static string HalfSizeSampleIndexLast => Make("half-sample-index-last.mp4",
        "-i", TestPaths.SampleClip, "-vf", "scale=384:288", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p");

    /// <summary>A short, small, good clip to run beside a hostile stream.</summary>
    public static string Good => Make("good.mp4",
        "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:d=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p");

    /// <summary>Makes (once) a clip with ffmpeg from the given input/codec arguments.</summary>
    public static string Make(string name, params string[] args) =>
        s_clips.GetOrAdd(name, n => new Lazy<string>(() => Run(n, args))).Value;

    /// <summary>Makes (once) a file derived from another by a byte-level edit.</summary>
    public static string Derive(string name, string source, Action<byte[], FileStream> edit) =>
        s_clips.GetOrAdd(name, n => new Lazy<string>(() =>
        {
            string path = Path.Combine(s_dir, n);
            byte[] bytes = File.ReadAllBytes(source);
            using (var file = new FileStream(path, FileMode.Create))
            {
                edit(bytes, file);
            }

            return path;
        })).Value;

    private static string Run(string name, string[] args)
    {
        string path = Path.Combine(s_dir, name);
        var psi = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string arg in (string[])["-v", "error", "-y", .. args, path])
        {
            psi.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(psi)!;
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0 || !File.Exists(path))
        {
            throw new InvalidOperationException($"ffmpeg could not make {name}: {errors}");
        }

        return path;
    }
}

/// <summary>The streamdeblur CLI as a long-running child process: output captured live, signals sent for real.</summary>
public sealed class CliProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private CliProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
        _process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string StdOut
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string StdErr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public static CliProcess Start(params string[] args) => new(Process.Start(CliRunner.StartInfo(args))!);

    /// <summary>Starts the CLI with extra environment variables (a pod's HOSTNAME, the shard variables).</summary>
    public static CliProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        ProcessStartInfo psi = CliRunner.StartInfo(args);
        foreach ((string name, string value) in environment)
        {
            psi.Environment[name] = value;
        }

        return new(Process.Start(psi)!);
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    private static extern int SysKill(int pid, int signal);

    public const int SigTerm = 15;
    public const int SigKill = 9;

    /// <summary>Sends a real POSIX signal to the process (SIGTERM as `docker stop` or systemd would).</summary>
    public void Signal(int signal)
    {
        if (SysKill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastWin32Error()}");
        }
    }

    /// <summary>Waits for the process to exit; kills it and throws if it takes longer than <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"streamdeblur did not exit within {timeout}.\nstdout: {StdOut}\nstderr: {StdErr}");
        }

        _process.WaitForExit(); // flushes the redirected output
        return _process.ExitCode;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds, the process exits, or the timeout passes.</summary>
    public async Task<bool> WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout && !_process.HasExited)
        {
            try
            {
                if (await condition())
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(50);
        }

        return false;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    private static void Append(StringBuilder sink, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (sink)
        {
            sink.AppendLine(line);
        }
    }
}

/// <summary>Helpers around the real tools and the text format: free ports, promtool, exposition parsing.</summary>
public static class Ops
{
    public const string Promtool = "/usr/bin/promtool";

    /// <summary>Runs a tool to completion and returns its exit code and combined output.</summary>
    public static (int ExitCode, string Output) RunTool(string file, string? stdin, params string[] args)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardInput = stdin is not null,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(psi)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }

        if (!process.WaitForExit(60_000))
        {
            process.Kill();
            throw new TimeoutException($"{file} {string.Join(' ', args)} ran over a minute");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>The lines of a JSONL report on disk right now (complete lines only).</summary>
    public static int CompleteLines(string path)
    {
        if (!File.Exists(path))
        {
            return 0;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        int count = 0;
        int b;
        while ((b = stream.ReadByte()) >= 0)
        {
            if (b == '\n')
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>Whether a complete line of the per-frame report has this route (e.g. "deblurred").</summary>
    public static bool AnyCompleteLineRouted(string path, string route)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        string text = reader.ReadToEnd();
        int end = text.LastIndexOf('\n');
        return end >= 0 && text[..end].Contains($"\"route\":\"{route}\"", StringComparison.Ordinal);
    }
}

/// <summary>One Prometheus text-format scrape, parsed into samples.</summary>
public sealed partial class Scrape
{
    private readonly List<(string Name, Dictionary<string, string> Labels, double Value)> _samples = [];

    public Scrape(string text)
    {
        Text = text;
        foreach (string line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            Match m = SampleLine().Match(line);
            if (!m.Success)
            {
                throw new FormatException($"not a sample line: {line}");
            }

            var labels = LabelPair().Matches(m.Groups["labels"].Value).ToDictionary(p => p.Groups[1].Value, p => p.Groups[2].Value);
            _samples.Add((m.Groups["name"].Value, labels, ParseValue(m.Groups["value"].Value)));
        }
    }

    public string Text { get; }

    /// <summary>The sum of every sample of <paramref name="name"/> whose labels include all of <paramref name="labels"/>.</summary>
    public double Sum(string name, params (string Key, string Value)[] labels) =>
        Matching(name, labels).Sum(s => s.Value);

    public bool Has(string name, params (string Key, string Value)[] labels) => Matching(name, labels).Any();

    /// <summary>The single value of a series; fails when the series is missing.</summary>
    public double Value(string name, params (string Key, string Value)[] labels)
    {
        var matches = Matching(name, labels).ToList();
        if (matches.Count != 1)
        {
            throw new InvalidOperationException($"expected one sample of {name}{{{string.Join(",", labels.Select(l => $"{l.Key}=\"{l.Value}\""))}}}, found {matches.Count}");
        }

        return matches[0].Value;
    }

    private static double ParseValue(string text) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.Parse(text, CultureInfo.InvariantCulture),
    };

    private IEnumerable<(string Name, Dictionary<string, string> Labels, double Value)> Matching(string name, (string Key, string Value)[] labels) =>
        _samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out string? v) && v == l.Value));

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+\d+)?$""")]
    private static partial Regex SampleLine();

    [GeneratedRegex(""""([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"""")]
    private static partial Regex LabelPair();
}
