using StreamDeblur.Tests.Operations;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>
/// A SIGKILLed worker still leaves a playable file, under the name that says it is partial, and the next run
/// says, in one line, that it found it, then writes the whole file. With the ffmpeg encoder the file holds every
/// frame the worker wrote; with the in-process libav encoder, all but the last second (the open Matroska cluster
/// or MP4 fragment) and the frames x264 still held in its lookahead.
/// </summary>
public sealed class CrashSafetyTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(120);

    /// <summary>
    /// Frames the in-process encoder holds beyond the open second: x264 at preset medium delays its packets by
    /// rc-lookahead 40 + 3 B-frames + a frame per thread, and the muxer and its I/O buffer hold a few more.
    /// A run here lost 67 frames of the 102 it had reported (10 fps).
    /// </summary>
    private const int X264DelayFrames = 60;

    [Theory]
    [InlineData("opencv", "ffmpeg", "mkv", 0.0, 0)]
    [InlineData("libav", "libav", "mkv", 1.0, X264DelayFrames)]
    [InlineData("libav", "libav", "mp4", 1.0, X264DelayFrames)]
    public async Task SigkillLeavesAPlayablePartialFileAndTheNextRunSaysSo(string decoder, string encoder, string extension, double secondsAtRisk, int framesInEncoder)
    {
        string dir = TestPaths.TempDir("crash");
        string output = Path.Combine(dir, "out." + extension);
        string partial = OutputNames.Partial(output);
        string report = Path.Combine(dir, "frames.jsonl");
        string config = Path.Combine(dir, "config.json");
        File.WriteAllText(config, $$"""
            {
              "streams": [ { "id": "cam", "input": "{{TestPaths.SampleClip}}", "output": "{{output}}", "decoder": "{{decoder}}", "encoder": "{{encoder}}", "pace_fps": 40 } ],
              "model": { "metadata": "{{TestPaths.ModelMetadata}}" }
            }
            """);

        int killAfter = framesInEncoder + 40;
        using (CliProcess cli = CliProcess.Start("run", "--config", config, "--report", report))
        {
            Assert.True(await cli.WaitUntilAsync(() => Task.FromResult(Ops.CompleteLines(report) >= killAfter), s_timeout), "the run ended before it could be killed:\n" + cli.StdErr);
            cli.Signal(CliProcess.SigKill); // the worker only; an ffmpeg child reads end-of-file and finalises the file
            Assert.Equal(128 + CliProcess.SigKill, await cli.WaitForExitAsync(s_timeout));
        }

        int reportedAtKill = Ops.CompleteLines(report); // every reported frame had been handed to the encoder
        ProbeResult? probe = null;
        for (int attempt = 0; attempt < 50 && probe is null; attempt++)
        {
            await Task.Delay(200);
            try
            {
                probe = FfProbe.Probe(partial);
            }
            catch (InvalidOperationException)
            {
                // ffmpeg is still finishing the file
            }
        }

        Assert.NotNull(probe);
        Assert.False(File.Exists(output), "a killed run's output took the final name");
        ProbeResult sample = FfProbe.Probe(TestPaths.SampleClip);
        int atRisk = (int)Math.Ceiling(secondsAtRisk * sample.Fps) + framesInEncoder;
        Assert.InRange(probe.Frames, reportedAtKill - atRisk, sample.Frames - 1);
        Assert.Equal((768, 576), (probe.Width, probe.Height));

        File.WriteAllText(config, File.ReadAllText(config).Replace("\"pace_fps\": 40", "\"pace_fps\": 0", StringComparison.Ordinal));
        CliRunner.Result rerun = await CliRunner.RunAsync(s_timeout, "run", "--config", config);
        Assert.True(rerun.ExitCode == 0, rerun.StdErr);
        Assert.Single(rerun.StdErr.Split('\n'), l => l.Contains($"found partial output {partial} from an earlier run", StringComparison.Ordinal));
        Assert.Equal(sample.Frames, FfProbe.Probe(output).Frames);
        Assert.False(File.Exists(partial));
    }
}
