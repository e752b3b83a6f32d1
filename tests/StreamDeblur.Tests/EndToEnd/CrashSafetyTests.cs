using StreamDeblur.Tests.Operations;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>
/// A SIGKILLed worker still leaves a playable file. With the ffmpeg encoder it holds every frame the worker wrote;
/// with the in-process libav encoder, all but the Matroska cluster still in memory (at most one second of video).
/// </summary>
public sealed class CrashSafetyTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(90);

    [Theory]
    [InlineData("opencv", "ffmpeg", 0.0)]
    [InlineData("libav", "libav", 1.0)]
    public async Task SigkillLeavesAPlayableFileWithEveryReportedFrame(string decoder, string encoder, double secondsAtRisk)
    {
        string dir = TestPaths.TempDir("crash");
        string output = Path.Combine(dir, "out.mkv");
        string report = Path.Combine(dir, "frames.jsonl");
        string config = Path.Combine(dir, "config.json");
        File.WriteAllText(config, $$"""
            {
              "streams": [ { "id": "cam", "input": "{{TestPaths.SampleClip}}", "output": "{{output}}", "decoder": "{{decoder}}", "encoder": "{{encoder}}", "pace_fps": 40 } ],
              "model": { "metadata": "{{TestPaths.ModelMetadata}}" }
            }
            """);

        using CliProcess cli = CliProcess.Start("run", "--config", config, "--report", report);
        Assert.True(await cli.WaitUntilAsync(() => Task.FromResult(Ops.CompleteLines(report) >= 40), s_timeout), "the run ended before it could be killed:\n" + cli.StdErr);
        cli.Signal(CliProcess.SigKill); // the worker only; an ffmpeg child reads end-of-file and finalises the file
        Assert.Equal(128 + CliProcess.SigKill, await cli.WaitForExitAsync(s_timeout));
        int reportedAtKill = Ops.CompleteLines(report); // every reported frame had been handed to the encoder

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
        ProbeResult sample = FfProbe.Probe(TestPaths.SampleClip);
        int atRisk = (int)Math.Ceiling(secondsAtRisk * sample.Fps);
        Assert.InRange(probe.Frames, reportedAtKill - atRisk, sample.Frames - 1);
        Assert.Equal((768, 576), (probe.Width, probe.Height));
    }
}
