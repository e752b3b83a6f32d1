using System.Diagnostics;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>With the ffmpeg encoder, a SIGKILLed worker still leaves a playable file holding every frame it wrote.</summary>
public sealed class CrashSafetyTests
{
    [Fact]
    public async Task SigkillLeavesAPlayableFileWithEveryReportedFrame()
    {
        string dir = TestPaths.TempDir("crash");
        string output = Path.Combine(dir, "out.mkv");
        string report = Path.Combine(dir, "frames.jsonl");
        string config = Path.Combine(dir, "config.json");
        File.WriteAllText(config, $$"""
            {
              "streams": [ { "id": "cam", "input": "{{TestPaths.SampleClip}}", "output": "{{output}}", "encoder": "ffmpeg", "pace_fps": 40 } ],
              "model": { "metadata": "{{TestPaths.ModelMetadata}}" }
            }
            """);

        using Process process = Process.Start(CliRunner.StartInfo("run", "--config", config, "--report", report))!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        int reported = 0;
        while (reported < 40 && clock.Elapsed < TimeSpan.FromSeconds(90) && !process.HasExited)
        {
            await Task.Delay(100);
            reported = File.Exists(report) ? File.ReadAllLines(report).Length : 0;
        }

        Assert.False(process.HasExited, "the run ended before it could be killed");
        process.Kill(entireProcessTree: false); // SIGKILL the worker only; its ffmpeg child sees end-of-file
        await process.WaitForExitAsync();
        int reportedAtKill = File.ReadAllLines(report).Length; // every reported frame had been handed to ffmpeg

        ProbeResult? probe = null;
        for (int attempt = 0; attempt < 50 && probe is null; attempt++)
        {
            await Task.Delay(200);
            try
            {
                probe = FfProbe.Probe(output);
            }
            catch (InvalidOperationException)
            {
                // ffmpeg is still finishing the file
            }
        }

        Assert.NotNull(probe);
        int total = FfProbe.Probe(TestPaths.SampleClip).Frames;
        Assert.InRange(probe.Frames, reportedAtKill, total - 1);
        Assert.Equal((768, 576), (probe.Width, probe.Height));
    }
}
