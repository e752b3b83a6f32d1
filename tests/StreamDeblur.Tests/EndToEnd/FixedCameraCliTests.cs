using System.Text.Json;
using StreamDeblur.Tests.Operations;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>Fixed-camera mode through the real CLI: on by default, a missing two-frame model is one log line, bad values one line each.</summary>
public sealed class FixedCameraCliTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task WithoutTheTwoFrameModelTheRunSaysSoOnceAndDeblursSingleFrame()
    {
        string dir = TestPaths.TempDir("cli-fixed-missing");
        string config = Write(dir, "c.json", """{ "fixed_camera": { "metadata": "models/not-shipped-yet.json" } }""");
        string report = Path.Combine(dir, "frames.jsonl");
        CliRunner.Result result = await CliRunner.RunAsync(s_timeout,
            "run", "--input", OpsClips.ShortSample, "--output", Path.Combine(dir, "out.mkv"), "--config", config, "--report", report);
        Assert.True(result.ExitCode == 0, result.StdErr);
        string log = result.StdOut + result.StdErr;
        Assert.Single(log.Split('\n'), l => l.Contains("fixed-camera mode: no two-frame model at models/not-shipped-yet.json", StringComparison.Ordinal));
        Assert.All(File.ReadAllLines(report), l => Assert.DoesNotContain("reference_used", l));
        Assert.Contains("deblurred", result.StdOut);
    }

    [Fact]
    public async Task WithATwoFrameModelBlurryFramesUseTheirReference()
    {
        string dir = TestPaths.TempDir("cli-fixed-on");
        string config = Write(dir, "c.json", $$"""{ "fixed_camera": { "metadata": {{JsonSerializer.Serialize(TestPaths.TestData("models", "two-frame-blend.json"))}} } }""");
        string report = Path.Combine(dir, "frames.jsonl");
        CliRunner.Result result = await CliRunner.RunAsync(s_timeout,
            "run", "--input", OpsClips.ShortSample, "--output", Path.Combine(dir, "out.mkv"), "--config", config, "--report", report);
        Assert.True(result.ExitCode == 0, result.StdErr);
        Assert.Contains("model two-frame-blend loaded", result.StdOut + result.StdErr);
        var lines = File.ReadAllLines(report).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(FfProbe.Probe(OpsClips.ShortSample).Frames, lines.Count);
        Assert.Contains(lines, l => l.GetProperty("reference_used").GetBoolean());
        Assert.All(lines.Where(l => l.GetProperty("route").GetString() == "sharp"), l => Assert.False(l.GetProperty("reference_used").GetBoolean()));
    }

    [Theory]
    [InlineData("""{ "fixed_camera": { "max_age_seconds": 0 } }""", 2, "fixed_camera.max_age_seconds: 0 is outside (0, 3600]")]
    [InlineData("""{ "fixed_camera": { "motion": "homography" } }""", 2, "fixed_camera.motion: 'homography' is not one of translation, euclidean, affine")]
    [InlineData("""{ "fixed_camera": { "metadata": "models/deblur-fast.json" } }""", 1, "is not a two-frame model")]
    [InlineData("""{ "model": { "metadata": "tests/data/models/two-frame-blend.json" } }""", 1, "name it in fixed_camera.metadata instead")]
    public async Task MistakesGiveOneClearLine(string json, int exitCode, string message)
    {
        string dir = TestPaths.TempDir("cli-fixed-bad");
        CliRunner.Result result = await CliRunner.RunAsync(s_timeout,
            "run", "--input", OpsClips.ShortSample, "--output", Path.Combine(dir, "out.mkv"), "--config", Write(dir, "c.json", json));
        Assert.Equal(exitCode, result.ExitCode);
        Assert.Contains(message, result.StdErr);
        Assert.DoesNotContain("   at ", result.StdErr + result.StdOut);
    }

    private static string Write(string dir, string name, string content) => CliTests.Write(dir, name, content);
}
