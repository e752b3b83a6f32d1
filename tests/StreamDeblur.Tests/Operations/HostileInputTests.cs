using System.Diagnostics;
using System.Net.Http;
using System.Text.Json;
using StreamDeblur.Video;
using Xunit;

namespace StreamDeblur.Tests.Operations;

/// <summary>
/// Hostile inputs through the real CLI: each gives one clear message (never a stack trace), keeps the process and
/// the other streams alive, and loses none of the output written so far.
/// </summary>
public sealed class HostileInputTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(120);

    private static readonly string[] s_hostileScenarios = ["truncated", "truncated-index-last", "corrupt-block", "zero-bytes", "not-a-video", "16k"];

    /// <summary>Every scenario through the default OpenCV I/O and through in-process libav I/O.</summary>
    public static TheoryData<string, string> HostileFiles
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (string scenario in s_hostileScenarios)
            {
                data.Add(scenario, "opencv");
                data.Add(scenario, "libav");
            }

            return data;
        }
    }

    /// <summary>Each hostile file runs beside a good stream, which must still come out whole.</summary>
    [Theory]
    [MemberData(nameof(HostileFiles))]
    public async Task AHostileFileFailsClearlyAndTheOtherStreamComesOutWhole(string scenario, string io)
    {
        string dir = TestPaths.TempDir($"ops-hostile-{scenario}-{io}");
        string hostile = HostileFile(scenario, dir);
        string badOutput = Path.Combine(dir, "bad.mkv");
        string goodOutput = Path.Combine(dir, "good.mkv");
        string report = Path.Combine(dir, "frames.jsonl");
        string config = WriteConfig(dir, $$"""
            { "streams": [
                { "id": "bad", "input": {{Json(hostile)}}, "output": {{Json(badOutput)}}, "decoder": "{{io}}", "encoder": "{{io}}" },
                { "id": "good", "input": {{Json(OpsClips.Good)}}, "output": {{Json(goodOutput)}} } ],
              "model": { "metadata": {{Json(TestPaths.ModelMetadata)}} } }
            """);

        var clock = Stopwatch.StartNew();
        CliRunner.Result result = await CliRunner.RunAsync(s_timeout, "run", "--config", config, "--report", report);
        clock.Stop();
        string all = result.StdOut + result.StdErr;
        Assert.DoesNotContain("   at ", all); // no stack trace
        Assert.DoesNotContain("unexpected error", all);

        // The good stream has every frame.
        int goodFrames = FfProbe.Probe(OpsClips.Good).Frames;
        Assert.Equal(goodFrames, FfProbe.Probe(goodOutput).Frames);
        Assert.Contains($"stream good: {goodFrames} frames", result.StdOut);

        string[] lines = File.ReadAllLines(report);
        int badLines = lines.Count(l => l.Contains("\"stream\":\"bad\"", StringComparison.Ordinal));
        switch (scenario)
        {
            case "truncated":
            case "corrupt-block":
                // Decoding stops at the damage with a warning; everything decoded before it is written and playable.
                Assert.Equal(0, result.ExitCode);
                Assert.Contains("truncated or corrupt", result.StdErr);
                Assert.InRange(badLines, 1, FfProbe.Probe(OpsClips.HalfSizeSample).Frames - 1);
                Assert.Equal(badLines, FfProbe.Probe(badOutput).Frames);
                break;
            case "truncated-index-last":
                // Cut before its index, an MP4 cannot be decoded at all: a clear failure, the other stream unharmed.
                AssertFailedClearly(result, "not a readable video", badLines, badOutput);
                break;
            case "zero-bytes":
                AssertFailedClearly(result, "input file is empty (0 bytes)", badLines, badOutput);
                break;
            case "not-a-video":
                AssertFailedClearly(result, "not a readable video", badLines, badOutput);
                break;
            case "16k":
                AssertFailedClearly(result, "15360x8640, above the", badLines, badOutput);
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"refusing a 16K frame took {clock.Elapsed}");
                break;
        }
    }

    /// <summary>
    /// libav's own messages about the damage stay out of the default log (the counted warning covers them)
    /// and come into the structured log, under the "libav" category, at --log-level debug.
    /// </summary>
    [Fact]
    public async Task LibavMessagesAboutADamagedFileAreInTheDebugLogOnly()
    {
        string dir = TestPaths.TempDir("ops-libav-log");
        string hostile = HostileFile("corrupt-block", dir);
        string config = WriteConfig(dir, $$"""
            { "streams": [ { "id": "bad", "input": {{Json(hostile)}}, "output": {{Json(Path.Combine(dir, "bad.mkv"))}}, "decoder": "libav", "encoder": "libav" } ],
              "model": { "metadata": {{Json(TestPaths.ModelMetadata)}} }, "blur": { "mode": "none" } }
            """);

        CliRunner.Result quiet = await CliRunner.RunAsync(s_timeout, "run", "--config", config);
        CliRunner.Result debug = await CliRunner.RunAsync(s_timeout, "run", "--config", config, "--log-level", "debug", "--overwrite");

        Assert.Equal(0, quiet.ExitCode);
        Assert.Contains("truncated or corrupt", quiet.StdErr);
        Assert.DoesNotContain("[h264 @", quiet.StdErr); // neither routed nor printed raw by libav
        Assert.Equal(0, debug.ExitCode);
        string[] libavLines = debug.StdErr.Split('\n').Where(l => l.Contains("libav error: [h264 @", StringComparison.Ordinal)).ToArray();
        Assert.NotEmpty(libavLines);
        Assert.All(libavLines, l => Assert.Contains("dbug: libav", l)); // one structured line each, at Debug
    }

    /// <summary>An output that cannot be written ends its stream at once with a line naming it; the other stream is whole.</summary>
    [Theory]
    [InlineData("opencv", "no-folder")]
    [InlineData("ffmpeg", "no-folder")]
    [InlineData("libav", "no-folder")]
    [InlineData("ffmpeg", "unknown-container")]
    [InlineData("libav", "unknown-container")]
    public async Task AnUnwritableOutputFailsItsStreamClearlyAndTheOtherComesOutWhole(string encoder, string scenario)
    {
        string dir = TestPaths.TempDir($"ops-output-{encoder}-{scenario}");
        string badOutput = scenario == "no-folder" ? "/proc/streamdeblur-no-such-folder/bad.mkv" : Path.Combine(dir, "bad.unknowncontainer");
        string goodOutput = Path.Combine(dir, "good.mkv");
        string config = WriteConfig(dir, $$"""
            { "streams": [
                { "id": "bad", "input": {{Json(OpsClips.Good)}}, "output": {{Json(badOutput)}}, "encoder": "{{encoder}}" },
                { "id": "good", "input": {{Json(OpsClips.Good)}}, "output": {{Json(goodOutput)}} } ],
              "model": { "metadata": {{Json(TestPaths.ModelMetadata)}} } }
            """);

        CliRunner.Result result = await CliRunner.RunAsync(TimeSpan.FromSeconds(60), "run", "--config", config);
        string all = result.StdOut + result.StdErr;
        Assert.Equal(1, result.ExitCode);
        Assert.DoesNotContain("   at ", all);
        Assert.Contains("stream bad failed", all);
        Assert.Contains(scenario == "no-folder" ? "/proc/streamdeblur-no-such-folder" : "bad.unknowncontainer", all);
        int goodFrames = FfProbe.Probe(OpsClips.Good).Frames;
        Assert.Equal(goodFrames, FfProbe.Probe(goodOutput).Frames);
    }

    [Theory]
    [InlineData("odd-size", "opencv")]
    [InlineData("gray8", "opencv")]
    [InlineData("gray16", "opencv")]
    [InlineData("rgb48", "opencv")]
    [InlineData("odd-size", "libav")]
    [InlineData("gray8", "libav")]
    [InlineData("gray16", "libav")]
    [InlineData("rgb48", "libav")]
    public async Task UnusualFrameFormatsComeOutAsNormalVideoWithEveryFrame(string scenario, string io)
    {
        string source = scenario switch
        {
            "odd-size" => OpsClips.Make("odd-321x241.mkv", "-f", "lavfi", "-i", "testsrc=size=321x241:rate=10:d=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"),
            "gray8" => OpsClips.Make("gray8.mkv", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:d=2", "-pix_fmt", "gray", "-c:v", "ffv1"),
            "gray16" => OpsClips.Make("gray16.mkv", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:d=2", "-pix_fmt", "gray16le", "-c:v", "ffv1"),
            "rgb48" => OpsClips.Make("rgb48.mkv", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:d=2", "-pix_fmt", "rgb48be", "-c:v", "png"),
            _ => throw new ArgumentOutOfRangeException(nameof(scenario)),
        };
        string dir = TestPaths.TempDir($"ops-format-{scenario}-{io}");
        string output = Path.Combine(dir, "out.mkv");
        string report = Path.Combine(dir, "frames.jsonl");
        string config = WriteConfig(dir, $$"""
            { "streams": [ { "id": "unusual", "input": {{Json(source)}}, "output": {{Json(output)}}, "decoder": "{{io}}", "encoder": "{{io}}" } ],
              "model": { "metadata": {{Json(TestPaths.ModelMetadata)}} } }
            """);

        CliRunner.Result result = await CliRunner.RunAsync(s_timeout, "run", "--config", config, "--report", report);
        Assert.True(result.ExitCode == 0, result.StdErr);

        ProbeResult input = FfProbe.Probe(source);
        ProbeResult written = FfProbe.Probe(output);
        Assert.Equal(input.Frames, written.Frames);
        Assert.Equal(input.Frames, File.ReadAllLines(report).Length);

        // Frames keep their size through the pipeline; the file is the frame size rounded up to even numbers,
        // which 4:2:0 video needs (VideoFileSink pads one replicated pixel).
        using JsonDocument first = JsonDocument.Parse(File.ReadLines(report).First());
        Assert.Equal((input.Width, input.Height), (first.RootElement.GetProperty("width").GetInt32(), first.RootElement.GetProperty("height").GetInt32()));
        OpenCvSharp.Size encoded = VideoFileSink.EncodedSize(new OpenCvSharp.Size(input.Width, input.Height));
        Assert.Equal((encoded.Width, encoded.Height), (written.Width, written.Height));
        Assert.Equal(io == "opencv" ? "mpeg4" : "h264", written.Codec); // OpenCV writes MPEG-4 Part 2 only

        // The picture survives: gray levels within a few steps of an independent ffmpeg decode of the source
        // (a 16-bit source scaled wrongly comes out black or saturated).
        double expected = MeanGray(source, input.Width, input.Height);
        double actual = MeanGray(output, input.Width, input.Height);
        Assert.True(Math.Abs(expected - actual) < 4, $"mean gray level {actual:F1}, source {expected:F1}");
    }

    [Theory]
    [InlineData("random-bytes", "not a valid ONNX model")]
    [InlineData("wrong-input-name", "has no input named 'input' (it has: image)")]
    [InlineData("one-channel", "the pipeline needs float[N,3,H,W]")]
    public async Task ABadModelIsRefusedAtStartWithOneClearLine(string model, string message)
    {
        string dir = TestPaths.TempDir("ops-model-" + model);
        string config = WriteConfig(dir, $$"""{ "model": { "metadata": {{Json(TestPaths.TestData("models", model + ".json"))}} } }""");
        CliRunner.Result result = await CliRunner.RunAsync(s_timeout,
            "run", "--input", OpsClips.Good, "--output", Path.Combine(dir, "out.mkv"), "--config", config);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("streamdeblur: error: ", result.StdErr.Trim());
        Assert.Contains(message, result.StdErr);
        Assert.Contains(model + ".onnx", result.StdErr);
        Assert.DoesNotContain("   at ", result.StdOut + result.StdErr);
    }

    [Theory]
    [InlineData("""{ "pipeline": { "drain_timeout": 5 } }""", "$.pipeline.drain_timeout")]
    [InlineData("""{ "pipeline": { "channel_capacity": -8 } }""", "pipeline.channel_capacity")]
    [InlineData("""{ "model": { "tile_size": -512 } }""", "model.tile_size")]
    [InlineData("""{ "batching": { "max_batch_size": "four" } }""", "batching.max_batch_size")]
    [InlineData("""{ "streams": [ { "id": "a", "input": "x.mp4", "output": "y.mkv", "segment_seconds": -1 } ] }""", "segment_seconds")]
    public async Task ABadConfigNamesTheKey(string json, string key)
    {
        string dir = TestPaths.TempDir("ops-config");
        CliRunner.Result result = await CliRunner.RunAsync(s_timeout, "run", "--config", WriteConfig(dir, json));

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("streamdeblur: error: ", result.StdErr.Trim());
        Assert.Contains(key, result.StdErr);
        Assert.DoesNotContain("   at ", result.StdOut + result.StdErr);
    }

    /// <summary>
    /// An unreachable camera with credentials in its URL, beside a good file: the camera reconnects (or fails
    /// clearly), the file comes out whole, and the password never reaches the logs, /readyz or /metrics.
    /// </summary>
    [Fact]
    public async Task AnUnreachableUrlWithCredentialsNeitherStopsTheOtherStreamNorLeaksThePassword()
    {
        const string password = "s3cr3t-Pa55";
        string dir = TestPaths.TempDir("ops-url");
        string goodOutput = Path.Combine(dir, "good.mkv");
        int port = TestPaths.FreePort();
        string config = WriteConfig(dir, $$"""
            { "streams": [
                { "id": "camera", "input": "rtsp://admin:{{password}}@127.0.0.1:9/stream1", "output": {{Json(Path.Combine(dir, "camera.mkv"))}},
                  "reconnect": { "initial_delay_seconds": 0.2, "max_delay_seconds": 1 } },
                { "id": "good", "input": {{Json(OpsClips.Good)}}, "output": {{Json(goodOutput)}} } ],
              "model": { "metadata": {{Json(TestPaths.ModelMetadata)}} },
              "http": { "port": {{port}} } }
            """);

        using CliProcess cli = CliProcess.Start("run", "--config", config);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };
        string readyz = "";
        bool settled = await cli.WaitUntilAsync(async () =>
        {
            readyz = await (await client.GetAsync("/readyz")).Content.ReadAsStringAsync();
            using JsonDocument doc = JsonDocument.Parse(readyz);
            JsonElement streams = doc.RootElement.GetProperty("streams");
            return streams.TryGetProperty("good", out JsonElement good) && good.GetProperty("state").GetString() == "ended"
                && streams.TryGetProperty("camera", out JsonElement camera) && camera.GetProperty("state").GetString() is "reconnecting" or "failed";
        }, TimeSpan.FromSeconds(60));
        Assert.True(settled, $"/readyz never showed the good stream ended and the camera reconnecting or failed: {readyz}\n{cli.StdErr}");

        string metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("streamdeblur_stream_up{stream=\"camera\"} 0", metrics);
        Assert.DoesNotContain(password, metrics);
        Assert.DoesNotContain(password, readyz);

        if (!cli.HasExited)
        {
            cli.Signal(CliProcess.SigTerm);
        }

        int exitCode = await cli.WaitForExitAsync(s_timeout);
        Assert.InRange(exitCode, 0, 1); // 1: the camera never answered
        Assert.DoesNotContain(password, cli.StdOut + cli.StdErr);
        Assert.DoesNotContain("   at ", cli.StdOut + cli.StdErr);
        Assert.Contains("127.0.0.1:9", cli.StdErr); // the error names the camera (without the password)

        int goodFrames = FfProbe.Probe(OpsClips.Good).Frames;
        Assert.Equal(goodFrames, FfProbe.Probe(goodOutput).Frames);
        Assert.Contains($"stream good: {goodFrames} frames", cli.StdOut);
    }

    private static void AssertFailedClearly(CliRunner.Result result, string message, int badLines, string badOutput)
    {
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("stream bad: 0 frames", result.StdOut);
        Assert.Contains(message, result.StdOut + result.StdErr);
        Assert.Equal(0, badLines);
        Assert.False(File.Exists(badOutput) && new FileInfo(badOutput).Length > 0, "a failed input left a non-empty output");
    }

    private static string HostileFile(string scenario, string dir)
    {
        string sample = OpsClips.HalfSizeSample;
        return scenario switch
        {
            // The first half of the file, as a copy interrupted mid-way leaves it.
            "truncated" => OpsClips.Derive("truncated.mp4", sample, (bytes, file) => file.Write(bytes, 0, bytes.Length / 2)),

            "truncated-index-last" => OpsClips.Derive("truncated-index-last.mp4", OpsClips.HalfSizeSampleIndexLast, (bytes, file) => file.Write(bytes, 0, bytes.Length / 2)),

            // 16 KiB of garbage over the middle of the file.
            "corrupt-block" => OpsClips.Derive("corrupt-block.mp4", sample, (bytes, file) =>
            {
                new Random(6).NextBytes(bytes.AsSpan(bytes.Length / 2, 16 * 1024));
                file.Write(bytes);
            }),
            "zero-bytes" => Write(dir, "empty.mp4", ""),
            "not-a-video" => Write(dir, "notes.mp4", "Meeting notes, 24 November: ship the deblurring worker.\n"),

            // One 15360x8640 frame (16K), a few hundred KB as MJPEG.
            "16k" => OpsClips.Make("16k.mkv", "-f", "lavfi", "-i", "color=c=gray:size=15360x8640:rate=10", "-frames:v", "1", "-c:v", "mjpeg"),
            _ => throw new ArgumentOutOfRangeException(nameof(scenario)),
        };
    }

    /// <summary>The mean 8-bit gray level of a video's first frame, decoded by ffmpeg at the given size.</summary>
    private static double MeanGray(string path, int width, int height)
    {
        var psi = new ProcessStartInfo("ffmpeg") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in (string[])["-v", "error", "-i", path, "-frames:v", "1", "-vf", $"format=gray,crop={width}:{height}:0:0", "-f", "rawvideo", "-"])
        {
            psi.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(psi)!;
        using var pixels = new MemoryStream();
        process.StandardOutput.BaseStream.CopyTo(pixels);
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0 && pixels.Length == (long)width * height, $"ffmpeg could not decode {path}: {errors}");
        return pixels.ToArray().Average(b => (double)b);
    }

    private static string Json(string text) => JsonSerializer.Serialize(text);

    private static string WriteConfig(string dir, string json) => Write(dir, "config.json", json);

    private static string Write(string dir, string name, string content)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllText(path, content);
        return path;
    }
}
