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

    /// <summary>
    /// <c>eval --json</c> on held-out pairs, two of them described by a manifest and one not: the JSON holds every
    /// pair, the described pairs' blur type and extent (a defocus disc's extent is its diameter), and no extent where
    /// nothing is known (an unknown extent once stopped the JSON with an exception).
    /// </summary>
    [Fact]
    public async Task EvalWritesEveryPairToItsJsonWithWhatIsKnownOfItsBlur()
    {
        string dir = TestPaths.TempDir("cli-eval");
        foreach (string id in new[] { "000", "007", "016" })
        {
            foreach (string kind in new[] { "sharp", "blurry" })
            {
                File.Copy(TestPaths.TestData("eval", $"{id}_{kind}.png"), Path.Combine(dir, $"{id}_{kind}.png"));
            }
        }

        using (System.Text.Json.JsonDocument shipped = System.Text.Json.JsonDocument.Parse(File.ReadAllText(TestPaths.TestData("eval", "manifest.json"))))
        {
            var described = shipped.RootElement.GetProperty("pairs").EnumerateArray().Where(p => p.GetProperty("id").GetString() is "000" or "007");
            File.WriteAllText(Path.Combine(dir, "manifest.json"), $$"""{ "pairs": [{{string.Join(",", described.Select(p => p.GetRawText()))}}] }""");
        }

        string json = Path.Combine(TestPaths.TempDir("cli-eval-out"), "eval.json");
        CliRunner.Result result = await CliRunner.RunAsync(TimeSpan.FromSeconds(120), "eval", "--dir", dir, "--json", json);
        Assert.True(result.ExitCode == 0, result.StdErr);
        using System.Text.Json.JsonDocument written = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
        var pairs = written.RootElement.GetProperty("results").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);
        Assert.Equal(["000", "007", "016"], pairs.Keys.Order());
        Assert.Equal("defocus", pairs["007"].GetProperty("blur_type").GetString());
        Assert.Equal(2 * 1.31, pairs["007"].GetProperty("blur_extent").GetDouble(), precision: 6);
        Assert.True(pairs["000"].GetProperty("blur_extent").GetDouble() > 0);
        Assert.False(pairs["016"].TryGetProperty("blur_extent", out System.Text.Json.JsonElement unknown) && unknown.ValueKind != System.Text.Json.JsonValueKind.Null,
            "a pair without a manifest entry has no extent");
        Assert.All(pairs.Values, p => Assert.True(p.GetProperty("identity_psnr").GetDouble() > 20));
    }

    /// <summary>
    /// The shipped profiles as they are, with only their output moved to a temporary folder: config/throughput.json
    /// (libav I/O, the INT8 fast model) and config/quality.json (offline clean-up with deblur-quality). Each runs
    /// the sample, writes every frame, and sends exactly the blurred frames through the model it names.
    /// </summary>
    [Theory]
    [InlineData("throughput.json", "deblur-fast.int8.onnx")]
    [InlineData("quality.json", "deblur-quality.onnx")]
    public async Task TheShippedProfilesRunTheSampleWithTheirModel(string profile, string modelFile)
    {
        string dir = TestPaths.TempDir("cli-profile");
        string output = Path.Combine(dir, "sample.mkv");
        string config = Path.Combine(dir, profile);
        string shipped = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "config", profile));
        var outputKey = new System.Text.RegularExpressions.Regex("\"output\": \"[^\"]+\"");
        Assert.Single(outputKey.Matches(shipped));
        File.WriteAllText(config, outputKey.Replace(shipped, $"\"output\": {System.Text.Json.JsonSerializer.Serialize(output)}"));

        CliRunner.Result result = await CliRunner.RunAsync(TimeSpan.FromSeconds(240), "run", "--config", config);
        Assert.True(result.ExitCode == 0, result.StdErr);
        int frames = FfProbe.Probe(TestPaths.SampleClip).Frames;
        Assert.Equal(frames, FfProbe.Probe(output).Frames);
        Assert.Contains(modelFile, result.StdOut + result.StdErr);
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
