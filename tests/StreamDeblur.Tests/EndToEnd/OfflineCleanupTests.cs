using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using StreamDeblur.Tests.Operations;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>
/// Offline clean-up of recorded footage through the real CLI, as a new user runs it: a recording is never lost,
/// the audio is kept, the codec is chosen, a run leaves its provenance, and a rerun gives the same pictures.
/// </summary>
public sealed partial class OfflineCleanupTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(180);

    /// <summary>The 40-frame half-size sample (H.264) with a 440 Hz tone (AAC) over its whole length.</summary>
    private static string ClipWithAudio => OpsClips.Make("short-sample-aac.mp4",
        "-i", OpsClips.ShortSample, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4",
        "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "64k");

    /// <summary>The same with its audio as PCM in Matroska: a codec that MP4 cannot hold.</summary>
    private static string ClipWithPcmAudio => OpsClips.Make("short-sample-pcm.mkv",
        "-i", ClipWithAudio, "-map", "0", "-c:v", "copy", "-c:a", "pcm_s16le");

    [Theory]
    [InlineData("same-path")]
    [InlineData("dotted-path")]
    [InlineData("symlink")]
    [InlineData("hardlink")]
    [InlineData("partial-name")]
    public async Task AnOutputThatIsTheInputIsRefusedAndTheRecordingIsUntouched(string how)
    {
        string dir = TestPaths.TempDir("same-file");
        string input = Path.Combine(dir, "a.mp4");
        File.Copy(OpsClips.ShortSample, input);
        string output = how switch
        {
            "same-path" => input,
            "dotted-path" => Path.Combine(dir, "sub", "..", "a.mp4"),
            "symlink" => Path.Combine(dir, "link.mp4"),
            "hardlink" => Path.Combine(dir, "hard.mp4"),
            "partial-name" => Path.Combine(dir, "b.mp4"), // writes b.partial.mp4, which is the input here
            _ => throw new ArgumentOutOfRangeException(nameof(how)),
        };
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        if (how == "symlink")
        {
            File.CreateSymbolicLink(output, input);
        }
        else if (how == "hardlink")
        {
            Assert.Equal(0, Link(input, output));
        }
        else if (how == "partial-name")
        {
            File.Move(input, Path.Combine(dir, "b.partial.mp4"));
            input = Path.Combine(dir, "b.partial.mp4");
        }

        string before = Sha256(input);
        CliRunner.Result result = await CliRunner.RunAsync(s_timeout, "run", "--input", input, "--output", output, "--overwrite");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("(the same file): writing it would destroy the recording", result.StdErr);
        Assert.Single(result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.Contains("error:", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", result.StdErr);
        Assert.Equal(before, Sha256(input));
    }

    [Fact]
    public async Task AnExistingOutputIsRefusedUnlessOverwriteIsGiven()
    {
        string dir = TestPaths.TempDir("exists");
        string output = Path.Combine(dir, "out.mkv");
        File.WriteAllText(output, "yesterday's work");

        CliRunner.Result refused = await CliRunner.RunAsync(s_timeout, "run", "--input", OpsClips.ShortSample, "--output", output);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains($"output {output} exists; pass --overwrite", refused.StdErr);
        Assert.Equal("yesterday's work", File.ReadAllText(output));

        CliRunner.Result replaced = await CliRunner.RunAsync(s_timeout, "run", "--input", OpsClips.ShortSample, "--output", output, "--overwrite");
        Assert.True(replaced.ExitCode == 0, replaced.StdErr);
        Assert.Equal(FfProbe.Probe(OpsClips.ShortSample).Frames, FfProbe.Probe(output).Frames);
    }

    /// <summary>
    /// While it runs, the output has its partial name and the final name does not exist; at the end it is renamed
    /// into place. Off a terminal, progress comes as a plain line every few seconds.
    /// </summary>
    [Fact]
    public async Task TheOutputGrowsUnderAPartialNameIsRenamedAtTheEndAndProgressIsLogged()
    {
        string dir = TestPaths.TempDir("partial");
        string output = Path.Combine(dir, "out.mp4");
        string partial = Path.Combine(dir, "out.partial.mp4");
        string report = Path.Combine(dir, "frames.jsonl");
        string config = Path.Combine(dir, "config.json");
        string clip = OpsClips.HalfSizeSample;
        File.WriteAllText(config, $$"""
            { "streams": [ { "id": "cam", "input": {{Json(clip)}}, "output": {{Json(output)}}, "pace_fps": 20 } ],
              "model": { "metadata": {{Json(TestPaths.ModelMetadata)}} } }
            """);

        using CliProcess cli = CliProcess.Start("run", "--config", config, "--report", report);
        Assert.True(await cli.WaitUntilAsync(() => Task.FromResult(Ops.CompleteLines(report) >= 10), s_timeout), cli.StdErr);
        Assert.True(File.Exists(partial), "no partial file while the run is going");
        Assert.False(File.Exists(output), "the final name exists before the run ended");
        Assert.Equal(0, await cli.WaitForExitAsync(s_timeout));

        Assert.False(File.Exists(partial));
        Assert.Equal(FfProbe.Probe(clip).Frames, FfProbe.Probe(output).Frames);
        Assert.Matches(ProgressLine(), cli.StdErr);
    }

    /// <summary>
    /// The input's audio is copied as it is (the same packets) and stays in sync: its start relative to the
    /// video, and its length, are those of ffmpeg's own stream copy into the same container.
    /// </summary>
    [Theory]
    [InlineData("libav", "mkv")]
    [InlineData("libav", "mp4")]
    [InlineData("ffmpeg", "mkv")]
    [InlineData("ffmpeg", "mp4")]
    public async Task TheAudioIsCopiedWithoutReencodingAndInSync(string encoder, string extension)
    {
        string dir = TestPaths.TempDir("audio");
        string output = Path.Combine(dir, "out." + extension);
        string reference = Path.Combine(dir, "reference." + extension);
        CliRunner.Result result = await RunConfigAsync(dir, ClipWithAudio, output, $"\"encoder\": \"{encoder}\"");
        Assert.True(result.ExitCode == 0, result.StdErr);
        Assert.Contains("copying audio track 1 (aac) as it is", result.StdErr);

        FfProbe.Tool("ffmpeg", ["-v", "error", "-i", ClipWithAudio, "-c", "copy", .. StreamDeblur.Video.FfmpegFileSink.ContainerArguments(reference), "-y", reference]);
        IReadOnlyList<ProbedStream> got = FfProbe.Streams(output);
        IReadOnlyList<ProbedStream> want = FfProbe.Streams(reference);
        ProbedStream audio = Assert.Single(got, s => s.Type == "audio");
        ProbedStream video = Assert.Single(got, s => s.Type == "video");
        Assert.Equal("aac", audio.Codec);
        double wantOffset = want.Single(s => s.Type == "audio").StartTime - want.Single(s => s.Type == "video").StartTime;
        Assert.InRange(audio.StartTime - video.StartTime, wantOffset - 0.002, wantOffset + 0.002);
        List<string> copied = AudioPackets(output);
        Assert.Equal(AudioPackets(reference).Take(copied.Count), copied); // the same bytes, packet for packet
        double audioLength = FfProbe.Tool("ffprobe", "-v", "error", "-select_streams", "a", "-show_entries", "packet=duration_time", "-of", "csv=p=0", output)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Sum(d => double.Parse(d, System.Globalization.CultureInfo.InvariantCulture));
        Assert.InRange(audioLength, 3.9, 4.1); // the whole 4 s tone, as long as the 40 frames at 10 fps
    }

    [Fact]
    public async Task AudioThatTheContainerCannotHoldIsNamedInOneLineAndLeftOut()
    {
        string dir = TestPaths.TempDir("audio-pcm");
        string output = Path.Combine(dir, "out.mp4");
        CliRunner.Result result = await RunConfigAsync(dir, ClipWithPcmAudio, output, "\"encoder\": \"libav\"");
        Assert.True(result.ExitCode == 0, result.StdErr);
        Assert.Single(result.StdErr.Split('\n'), l => l.Contains("audio track 1 (pcm_s16le) cannot go into this output's container without re-encoding", StringComparison.Ordinal));
        Assert.DoesNotContain(FfProbe.Streams(output), s => s.Type == "audio");
        Assert.Equal(40, FfProbe.Probe(output).Frames);
    }

    [Fact]
    public async Task TheOpenCvEncoderSaysOnceThatItDropsTheAudio()
    {
        string dir = TestPaths.TempDir("audio-opencv");
        CliRunner.Result result = await RunConfigAsync(dir, ClipWithAudio, Path.Combine(dir, "out.mkv"), "\"encoder\": \"opencv\"");
        Assert.True(result.ExitCode == 0, result.StdErr);
        Assert.Single(Regex.Matches(result.StdErr, "encoder opencv cannot copy audio"));
        Assert.DoesNotContain(FfProbe.Streams(Path.Combine(dir, "out.mkv")), s => s.Type == "audio");
    }

    [Theory]
    [InlineData(null, "h264")]
    [InlineData("hevc", "hevc")]
    [InlineData("mpeg4", "mpeg4")]
    public async Task TheCodecIsH264ByDefaultAndCanBeChosen(string? codec, string expected)
    {
        string dir = TestPaths.TempDir("codec");
        string output = Path.Combine(dir, "out.mkv");
        string[] args = ["run", "--input", OpsClips.ShortSample, "--output", output, "--config", Path.Combine(dir, WriteModelConfig(dir))];
        CliRunner.Result result = await CliRunner.RunAsync(s_timeout, codec is null ? args : [.. args, "--codec", codec]);
        Assert.True(result.ExitCode == 0, result.StdErr);
        Assert.Equal(expected, FfProbe.Probe(output).Codec);
        Assert.Contains("decoder libav, encoder libav", result.StdErr); // auto picks libav where FFmpeg 5.1 is installed
    }

    /// <summary>
    /// Two runs on the same input, model and config give the same decoded frames, with every frame through the
    /// network (so batches of different make-up); and, being muxed bit-exactly, the same file.
    /// </summary>
    [Fact]
    public async Task TwoRunsGiveIdenticalFramesAndTheProvenanceRecordsWhatWasDone()
    {
        string dir = TestPaths.TempDir("repeat");
        string[] outputs = [Path.Combine(dir, "first.mkv"), Path.Combine(dir, "second.mkv")];
        string report = Path.Combine(dir, "frames.jsonl");
        foreach (string output in outputs)
        {
            CliRunner.Result result = await RunConfigAsync(dir, OpsClips.ShortSample, output, "\"encoder\": \"libav\"", """ "blur": { "mode": "all" } """, report);
            Assert.True(result.ExitCode == 0, result.StdErr);
        }

        IReadOnlyList<string> first = FfProbe.FrameHashes(outputs[0]);
        Assert.Equal(40, first.Count);
        Assert.Equal(first, FfProbe.FrameHashes(outputs[1]));
        Assert.Equal(Sha256(outputs[0]), Sha256(outputs[1]));

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(outputs[1] + ".provenance.json"));
        JsonElement record = doc.RootElement;
        Assert.Equal("complete", record.GetProperty("result").GetString());
        JsonElement input = record.GetProperty("input");
        Assert.Equal(Path.GetFullPath(OpsClips.ShortSample), input.GetProperty("path").GetString());
        Assert.Equal(new FileInfo(OpsClips.ShortSample).Length, input.GetProperty("size_bytes").GetInt64());
        Assert.Equal(Sha256(OpsClips.ShortSample), input.GetProperty("sha256").GetString());
        JsonElement written = Assert.Single(record.GetProperty("outputs").EnumerateArray().ToArray());
        Assert.Equal(outputs[1], written.GetProperty("path").GetString());
        Assert.Equal(Sha256(outputs[1]), written.GetProperty("sha256").GetString());
        JsonElement model = record.GetProperty("model");
        Assert.Equal("deblur-fast", model.GetProperty("name").GetString());
        Assert.Equal(Sha256(Path.Combine(TestPaths.RepoRoot, "models", "deblur-fast.onnx")), model.GetProperty("sha256").GetString());
        Assert.Equal("cpu", model.GetProperty("execution_provider").GetString());
        Assert.False(string.IsNullOrEmpty(model.GetProperty("version").GetString()));
        Assert.StartsWith("1.", record.GetProperty("tool").GetProperty("version").GetString());
        Assert.True(record.GetProperty("ended_utc").GetDateTime() >= record.GetProperty("started_utc").GetDateTime());
        JsonElement frames = record.GetProperty("frames");
        Assert.Equal(40, frames.GetProperty("written").GetInt64());
        Assert.Equal(40, frames.GetProperty("deblurred").GetInt64()); // blur.mode all
        JsonElement stream = Assert.Single(record.GetProperty("config").GetProperty("streams").EnumerateArray().ToArray());
        Assert.Equal("h264", stream.GetProperty("codec").GetString());
        Assert.Equal("libav", stream.GetProperty("decoder").GetString()); // the effective choice, not "auto"
        Assert.Equal("all", record.GetProperty("config").GetProperty("blur").GetProperty("mode").GetString());
    }

    /// <summary>The built CLI run from another folder finds the shipped model and config beside itself.</summary>
    [Fact]
    public async Task ItRunsFromAnyFolder()
    {
        string elsewhere = TestPaths.TempDir("elsewhere");
        foreach (string[] extra in new[] { Array.Empty<string>(), ["--config", "config/streamdeblur.json"] })
        {
            var psi = CliRunner.StartInfo(["run", "--input", OpsClips.ShortSample, "--output", "out.mkv", "--overwrite", .. extra]);
            psi.WorkingDirectory = elsewhere;
            using var process = System.Diagnostics.Process.Start(psi)!;
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            string stderr = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, stderr);
            Assert.Contains($"loaded from {Path.GetDirectoryName(CliRunner.CliDll)}/models/deblur-fast.onnx", stderr);
            Assert.Contains("stream main: 40 frames", await stdout);
            Assert.Equal(40, FfProbe.Probe(Path.Combine(elsewhere, "out.mkv")).Frames);
        }
    }

    [Fact]
    public async Task CompareWritesInputOutputAndDifferenceSideBySide()
    {
        string dir = TestPaths.TempDir("compare");
        string output = Path.Combine(dir, "out.mkv");
        Assert.Equal(0, (await RunConfigAsync(dir, TestPaths.SampleClip, output, "\"encoder\": \"libav\"")).ExitCode);
        string image = Path.Combine(dir, "compare.png");
        CliRunner.Result result = await CliRunner.RunAsync(s_timeout, "compare", "--before", TestPaths.SampleClip, "--after", output, "--image", image, "--frames", "10,35", "--crop", "100,50,320,240");
        Assert.True(result.ExitCode == 0, result.StdErr);
        using OpenCvSharp.Mat picture = OpenCvSharp.Cv2.ImRead(image);
        Assert.Equal((3 * 320, 2 * (240 + 28)), (picture.Width, picture.Height));

        // Frame 10 is sharp (passed through: only the encoder's loss), frame 35 is in a blur burst (deblurred).
        double sharpChange = OpenCvSharp.Cv2.Mean(new OpenCvSharp.Mat(picture, new OpenCvSharp.Rect(640, 28, 320, 240))).Val0;
        double deblurredChange = OpenCvSharp.Cv2.Mean(new OpenCvSharp.Mat(picture, new OpenCvSharp.Rect(640, 268 + 28, 320, 240))).Val0;
        Assert.True(deblurredChange > 2 * sharpChange, $"difference panel: {sharpChange:F2} on a sharp frame, {deblurredChange:F2} on a deblurred one");

        CliRunner.Result bad = await CliRunner.RunAsync(s_timeout, "compare", "--before", TestPaths.SampleClip, "--after", output, "--image", image, "--crop", "700,500,200,200");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("is not inside the 768x576 frame", bad.StdErr);
    }

    private static async Task<ProbeResult?> ProbeWhenReadyAsync(string path)
    {
        for (int attempt = 0; attempt < 50; attempt++)
        {
            await Task.Delay(200);
            try
            {
                return FfProbe.Probe(path);
            }
            catch (InvalidOperationException)
            {
                // still being finished
            }
        }

        return null;
    }

    private static async Task<CliRunner.Result> RunConfigAsync(string dir, string input, string output, string streamExtra, string? root = null, string? report = null)
    {
        string config = Path.Combine(dir, $"config-{Guid.NewGuid():N}.json");
        File.WriteAllText(config, $$"""
            { "streams": [ { "id": "cam", "input": {{Json(input)}}, "output": {{Json(output)}}, {{streamExtra}} } ],
              {{(root is null ? "" : root + ",")}}
              "model": { "metadata": {{Json(TestPaths.ModelMetadata)}} } }
            """);
        string[] args = ["run", "--config", config, "--overwrite"];
        return await CliRunner.RunAsync(s_timeout, report is null ? args : [.. args, "--report", report]);
    }

    private static string WriteModelConfig(string dir)
    {
        File.WriteAllText(Path.Combine(dir, "model.json"), $$"""{ "model": { "metadata": {{Json(TestPaths.ModelMetadata)}} } }""");
        return "model.json";
    }

    /// <summary>Each audio packet's size and MD5, in order (ffmpeg's framemd5 of a stream copy): equal lists mean the same bytes.</summary>
    private static List<string> AudioPackets(string path) =>
        FfProbe.Tool("ffmpeg", "-v", "error", "-i", path, "-map", "0:a", "-c", "copy", "-f", "framemd5", "-")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(line => !line.StartsWith('#'))
            .Select(line => line.Split(',')).Select(f => $"{f[^2].Trim()} {f[^1].Trim()}")
            .ToList();

    private static string Json(string value) => JsonSerializer.Serialize(value);

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string created);

    [GeneratedRegex(@"progress: half-sample\.mp4: \d+/150 frames \(\d+ %\), [\d.]+ fps, \d+ % deblurred, ETA \d+:\d\d:\d\d")]
    private static partial Regex ProgressLine();
}
