using System.Text.RegularExpressions;
using Xunit;

namespace StreamDeblur.Tests.Operations;

/// <summary>
/// The real CLI process killed mid-file, as `docker stop` (SIGTERM) and the OOM killer (SIGKILL) would:
/// what ffprobe reads back afterwards.
/// </summary>
public sealed class ShutdownTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task SigtermDrainsTheQueuesAndLeavesAPlayableFileWithEveryFrameWritten()
    {
        string dir = TestPaths.TempDir("ops-sigterm");
        string clip = OpsClips.HalfSizeSample;
        string output = Path.Combine(dir, "out.mkv");
        string report = Path.Combine(dir, "frames.jsonl");
        int clipFrames = FfProbe.Probe(clip).Frames;

        using CliProcess cli = CliProcess.Start("run", "--input", clip, "--output", output, "--report", report, "--config", "config/streamdeblur.json");
        Assert.True(await cli.WaitUntilAsync(() => Task.FromResult(Ops.CompleteLines(report) > 0), s_timeout), "no report line before the run ended:\n" + cli.StdErr);
        cli.Signal(CliProcess.SigTerm);
        int exitCode = await cli.WaitForExitAsync(s_timeout);

        Assert.True(exitCode == 0, $"exit code {exitCode}\n{cli.StdErr}");
        Assert.Contains("SIGTERM: stopping the sources", cli.StdErr);
        int written = File.ReadAllLines(report).Length;
        Assert.InRange(written, 1, clipFrames - 1); // stopped mid-file...
        ProbeResult probe = FfProbe.Probe(OutputNames.Partial(output));
        Assert.Equal(written, probe.Frames); // ...and every frame it wrote is in a playable file, named as partial
        Assert.False(File.Exists(output), "a file cut short took the final name");
        Assert.Contains("it was stopped before the end of its input; its output stays under the name", cli.StdErr);
        Assert.Matches(new Regex($@"stream main: {written} frames .* 0 dropped"), cli.StdOut);
    }

    [Fact]
    public async Task PastTheDrainDeadlineTheRestIsCountedAsDroppedAndTheFileIsStillFinalised()
    {
        // Full size: deblurring the queued blurry frames takes longer than the 0.1 s deadline.
        string dir = TestPaths.TempDir("ops-deadline");
        string output = Path.Combine(dir, "out.mkv");
        string report = Path.Combine(dir, "frames.jsonl");
        string config = Path.Combine(dir, "config.json");
        File.WriteAllText(config, $$"""{ "pipeline": { "drain_timeout_seconds": 0.1 }, "model": { "metadata": "{{TestPaths.ModelMetadata}}" } }""");

        using CliProcess cli = CliProcess.Start("run", "--input", TestPaths.SampleClip, "--output", output, "--report", report, "--config", config);
        // Stop once the sample's first burst is being written: its other blurry frames are then still queued or in
        // the network (on a loaded machine, every sharp frame before the burst can be written before a stop after
        // the first line arrives, and the sharp frames left drain within the deadline).
        Assert.True(await cli.WaitUntilAsync(() => Task.FromResult(Ops.AnyCompleteLineRouted(report, "deblurred")), s_timeout), "no deblurred frame reported before the run ended:\n" + cli.StdErr);
        cli.Signal(CliProcess.SigTerm);
        Assert.Equal(0, await cli.WaitForExitAsync(s_timeout));

        int written = File.ReadAllLines(report).Length;
        Match summary = Regex.Match(cli.StdOut, @"stream main: (\d+) frames .* (\d+) dropped");
        Assert.True(summary.Success, cli.StdOut);
        int dropped = int.Parse(summary.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(written, int.Parse(summary.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(dropped > 0, "nothing was still queued at the deadline: " + cli.StdOut);
        Assert.Contains($"the drain deadline (0.1 s) passed with {dropped} frames still queued", cli.StdErr);
        Assert.InRange(written + dropped, written + 1, FfProbe.Probe(TestPaths.SampleClip).Frames);
        Assert.Equal(written, FfProbe.Probe(OutputNames.Partial(output)).Frames); // cut short, but finalised and playable
    }

    [Fact]
    public async Task SigkillLosesAtMostTheOpenSegment()
    {
        // A single Matroska file is only playable up to its last closed cluster (OpenCV's muxer buffers up to
        // ~5 s, and the header itself, in memory); segment_seconds bounds what a SIGKILL can take (docs/operations.md).
        const double segmentSeconds = 1;
        string dir = TestPaths.TempDir("ops-sigkill");
        string clip = OpsClips.HalfSizeSample;
        ProbeResult input = FfProbe.Probe(clip);
        string report = Path.Combine(dir, "frames.jsonl");
        string config = Path.Combine(dir, "config.json");
        File.WriteAllText(config, $$"""
            { "streams": [ { "id": "main", "input": "{{clip}}", "output": "{{Path.Combine(dir, "out.mkv")}}", "segment_seconds": {{segmentSeconds}} } ],
              "model": { "metadata": "{{TestPaths.ModelMetadata}}" } }
            """);

        using CliProcess cli = CliProcess.Start("run", "--config", config, "--report", report);
        Assert.True(await cli.WaitUntilAsync(() => Task.FromResult(Ops.CompleteLines(report) >= 20), s_timeout), "the run ended before the kill:\n" + cli.StdErr);
        cli.Signal(CliProcess.SigKill);
        int exitCode = await cli.WaitForExitAsync(s_timeout);
        int reportedAtKill = Ops.CompleteLines(report); // the report only lags what was encoded
        Assert.Equal(128 + CliProcess.SigKill, exitCode);

        string[] segments = Directory.GetFiles(dir, "out_*.mkv").Order(StringComparer.Ordinal).ToArray();
        Assert.NotEmpty(segments);
        int framesPerSegment = (int)Math.Round(segmentSeconds * input.Fps);
        int readable = 0;
        foreach (string segment in segments[..^1])
        {
            ProbeResult probe = FfProbe.Probe(segment); // throws if ffprobe cannot read it
            Assert.Equal(framesPerSegment, probe.Frames);
            Assert.Equal((input.Width, input.Height), (probe.Width, probe.Height));
            readable += probe.Frames;
        }

        Assert.InRange(reportedAtKill, 20, input.Frames - 1);
        Assert.True(readable >= reportedAtKill - framesPerSegment,
            $"only {readable} frames are readable after SIGKILL, but {reportedAtKill} were reported written");
    }
}
