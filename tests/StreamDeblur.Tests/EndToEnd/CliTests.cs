using Xunit;

namespace StreamDeblur.Tests;

/// <summary>The CLI as a user meets it: one clear line and a non-zero exit for every mistake, never a stack trace.</summary>
public sealed class CliTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task RunOnTheSampleWritesTheVideoAndTheReport()
    {
        string dir = TestPaths.TempDir("cli");
        string output = Path.Combine(dir, "out.mkv");
        string report = Path.Combine(dir, "frames.jsonl");
        CliRunner.Result result = await CliRunner.RunAsync(TimeSpan.FromSeconds(240),
            "run", "--input", TestPaths.SampleClip, "--output", output, "--config", "config/streamdeblur.json", "--report", report);
        Assert.True(result.ExitCode == 0, result.StdErr);
        int frames = FfProbe.Probe(TestPaths.SampleClip).Frames;
        Assert.Equal(frames, FfProbe.Probe(output).Frames);
        Assert.Equal(frames, File.ReadAllLines(report).Length);
        Assert.Contains($"stream main: {frames} frames", result.StdOut);
    }

    /// <summary>config/throughput.json as shipped (libav I/O, INT8 model), with only its output moved to a temporary folder.</summary>
    [Fact]
    public async Task TheThroughputProfileRunsTheSampleWithLibavAndTheInt8Model()
    {
        string dir = TestPaths.TempDir("cli-throughput");
        string output = Path.Combine(dir, "sample.mkv");
        string config = Path.Combine(dir, "throughput.json");
        string shipped = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "config", "throughput.json"));
        Assert.Contains("\"out/sample.mkv\"", shipped);
        File.WriteAllText(config, shipped.Replace("\"out/sample.mkv\"", System.Text.Json.JsonSerializer.Serialize(output), StringComparison.Ordinal));

        CliRunner.Result result = await CliRunner.RunAsync(TimeSpan.FromSeconds(120), "run", "--config", config);
        Assert.True(result.ExitCode == 0, result.StdErr);
        int frames = FfProbe.Probe(TestPaths.SampleClip).Frames;
        Assert.Equal(frames, FfProbe.Probe(output).Frames);
        Assert.Contains("deblur-fast.int8.onnx", result.StdOut + result.StdErr);
        Assert.Contains($"stream sample: {frames} frames", result.StdOut);
        using System.Text.Json.JsonDocument truth = System.Text.Json.JsonDocument.Parse(File.ReadAllText(TestPaths.SampleTruth));
        Assert.Contains($"{truth.RootElement.GetProperty("blurred_frames").GetArrayLength()} deblurred", result.StdOut);
    }

    [Theory]
    [InlineData("missing-input", 1, "input file not found")]
    [InlineData("bad-option", 2, "unknown option --inptu")]
    [InlineData("no-output", 2, "--input needs --output")]
    [InlineData("bad-config", 2, "unknown key")]
    [InlineData("missing-config", 2, "config file not found")]
    [InlineData("not-a-video", 1, "not a readable video")]
    [InlineData("bad-model", 1, "model metadata not found")]
    public async Task MistakesGiveOneClearLine(string scenario, int exitCode, string message)
    {
        string dir = TestPaths.TempDir("cli-" + scenario);
        string output = Path.Combine(dir, "out.mkv");
        string[] args = scenario switch
        {
            "missing-input" => ["run", "--input", "/no/such/file.mp4", "--output", output],
            "bad-option" => ["run", "--inptu", "x.mp4"],
            "no-output" => ["run", "--input", TestPaths.SampleClip],
            "bad-config" => ["run", "--input", TestPaths.SampleClip, "--output", output, "--config", Write(dir, "c.json", """{ "batching": { "size": 4 } }""")],
            "missing-config" => ["run", "--input", TestPaths.SampleClip, "--output", output, "--config", Path.Combine(dir, "none.json")],
            "not-a-video" => ["run", "--input", Write(dir, "notes.mp4", "these are meeting notes, not a video"), "--output", output],
            "bad-model" => ["run", "--input", TestPaths.SampleClip, "--output", output, "--config", Write(dir, "m.json", """{ "model": { "metadata": "models/none.json" } }""")],
            _ => throw new ArgumentOutOfRangeException(nameof(scenario)),
        };

        CliRunner.Result result = await CliRunner.RunAsync(s_timeout, args);
        Assert.Equal(exitCode, result.ExitCode);
        Assert.Contains(message, result.StdErr);
        Assert.DoesNotContain("   at ", result.StdErr + result.StdOut); // no stack trace
    }

    internal static string Write(string dir, string name, string content)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllText(path, content);
        return path;
    }
}
