using System.Diagnostics;
using System.Globalization;
using Xunit;
using Xunit.Abstractions;

namespace StreamDeblur.Tests;

/// <summary>Native objects are disposed deterministically: 10k frames through the real CLI, and resident memory stays flat.</summary>
public sealed class MemoryTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ResidentMemoryStaysFlatOverTenThousandFrames()
    {
        string dir = TestPaths.TempDir("memory");
        string clip = Path.Combine(dir, "loop.mkv");
        // The sample clip (with its blurry bursts) looped 67 times at a small size: 10,050 real encoded frames.
        var encode = Process.Start(new ProcessStartInfo("ffmpeg",
            ["-v", "error", "-stream_loop", "66", "-i", TestPaths.SampleClip, "-vf", "scale=160:128", "-c:v", "mpeg4", "-q:v", "4", "-y", clip]))!;
        await encode.WaitForExitAsync();
        Assert.Equal(0, encode.ExitCode);
        int frames = FfProbe.Probe(clip).Frames;
        Assert.True(frames >= 10_000, $"{frames} frames");

        string outputPath = Path.Combine(dir, "out.mkv");
        using Process process = Process.Start(CliRunner.StartInfo("run", "--input", clip, "--output", outputPath, "--config", "config/streamdeblur.json"))!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        var samples = new List<(double Seconds, long RssKb)>();
        var clock = Stopwatch.StartNew();
        while (!process.HasExited)
        {
            long? rss = ReadRssKb(process.Id);
            if (rss is not null)
            {
                samples.Add((clock.Elapsed.TotalSeconds, rss.Value));
            }

            await Task.Delay(200);
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(4), "the run took too long");
        }

        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, await stderr);
        Assert.Equal(frames, FfProbe.Probe(outputPath).Frames);

        // Warm-up plateau: the highest RSS in the second quarter of the run; the last quarter must not rise above it by more than 24 MiB.
        Assert.True(samples.Count >= 20, $"only {samples.Count} samples");
        int quarter = samples.Count / 4;
        long plateau = samples.Skip(quarter).Take(quarter).Max(s => s.RssKb);
        long end = samples.Skip(3 * quarter).Max(s => s.RssKb);
        output.WriteLine($"{frames} frames in {clock.Elapsed.TotalSeconds:F1} s; RSS plateau {plateau / 1024} MiB, last quarter max {end / 1024} MiB; {await stdout}");
        Assert.True(end - plateau < 24 * 1024, $"resident memory grew from {plateau / 1024} MiB to {end / 1024} MiB");
    }

    private static long? ReadRssKb(int pid)
    {
        try
        {
            string? line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
    }
}
