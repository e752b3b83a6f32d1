using Xunit;

namespace StreamDeblur.Tests;

public sealed class ConfigLoaderTests
{
    [Fact]
    public void ShippedConfigLoadsAndIsValid()
    {
        StreamDeblurOptions options = ConfigLoader.Load(Path.Combine(TestPaths.RepoRoot, "config", "streamdeblur.json"));
        Assert.Empty(options.Validate());
        Assert.Equal("sample", Assert.Single(options.Streams).Id);
        Assert.Equal("cpu", options.Model.ExecutionProvider);
    }

    [Fact]
    public void UnknownKeyIsNamed()
    {
        var ex = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("""{ "batching": { "max_batch_sise": 4 } }"""));
        Assert.Contains("max_batch_sise", ex.Message);
        Assert.Contains("unknown key", ex.Message);
    }

    [Fact]
    public void WrongTypeNamesThePath()
    {
        var ex = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("""{ "batching": { "max_batch_size": "four" } }"""));
        Assert.Contains("$.batching.max_batch_size", ex.Message);
    }

    [Theory]
    [InlineData("""{ "batching": { "max_batch_size": -1 } }""", "batching.max_batch_size")]
    [InlineData("""{ "pipeline": { "channel_capacity": 0 } }""", "pipeline.channel_capacity")]
    [InlineData("""{ "model": { "execution_provider": "opencl" } }""", "model.execution_provider")]
    [InlineData("""{ "blur": { "enter_ratio": 0.7, "exit_ratio": 0.5 } }""", "blur.exit_ratio")]
    [InlineData("""{ "model": { "tile_size": 128, "tile_overlap": 64 } }""", "model.tile_overlap")]
    [InlineData("""{ "model": { "fp16": true, "int8": true } }""", "model.int8")]
    public void InvalidValuesAreNamed(string json, string key)
    {
        StreamDeblurOptions options = ConfigLoader.Parse(json);
        options.Streams = [new StreamOptions { Id = "a", Input = "a.mp4", Output = "a.mkv" }];
        var ex = Assert.Throws<ConfigException>(() => ConfigLoader.ThrowIfInvalid(options));
        Assert.Contains(key, ex.Message);
    }

    [Fact]
    public void StreamsAreChecked()
    {
        StreamDeblurOptions options = ConfigLoader.Parse("""
            { "streams": [
                { "id": "cam 1", "input": "a.mp4", "output": "a.mkv" },
                { "id": "b", "input": "ftp://x/y", "output": "b.mkv" },
                { "id": "b", "input": "b.mp4" } ] }
            """);
        string message = string.Join("\n", options.Validate());
        Assert.Contains("streams[0].id", message);
        Assert.Contains("streams[1].input", message);
        Assert.Contains("used by more than one stream", message);
        Assert.Contains("needs an output file or a forward URL", message);
    }

    [Fact]
    public void LibavDecodesFilesOnlyAndUnknownBackendsAreNamed()
    {
        StreamDeblurOptions options = ConfigLoader.Parse("""
            { "streams": [
                { "id": "cam", "input": "rtsp://127.0.0.1:8554/cam", "output": "cam.mkv", "decoder": "libav", "encoder": "libav" },
                { "id": "file", "input": "a.mp4", "output": "a.mkv", "decoder": "libav", "encoder": "gstreamer" } ] }
            """);
        string message = string.Join("\n", options.Validate());
        Assert.Contains("streams[0].decoder: libav decodes files only", message);
        Assert.DoesNotContain("streams[0].encoder", message);
        Assert.DoesNotContain("streams[1].decoder", message);
        Assert.Contains("streams[1].encoder: 'gstreamer' is not one of auto, opencv, ffmpeg, libav", message);
    }

    [Theory]
    [InlineData(""" "codec": "vp9" """, "streams[0].codec: 'vp9' is not one of h264, hevc, mpeg4")]
    [InlineData(""" "crf": 60 """, "streams[0].crf: 60 is outside 0..51")]
    [InlineData(""" "preset": "turbo" """, "streams[0].preset: 'turbo' is not one of ultrafast")]
    [InlineData(""" "encoder": "opencv", "codec": "h264" """, "streams[0].codec: the opencv encoder writes mpeg4 only")]
    [InlineData(""" "codec": "mpeg4", "crf": 20 """, "streams[0].crf: applies to h264 and hevc")]
    [InlineData(""" "segment_seconds": 60, "codec": "hevc" """, "streams[0].codec: segments are written by the opencv encoder")]
    public void EncoderChoicesAreChecked(string stream, string message)
    {
        StreamDeblurOptions options = ConfigLoader.Parse($$"""{ "streams": [ { "id": "a", "input": "a.mp4", "output": "a.mkv", {{stream}} } ] }""");
        Assert.Contains(message, string.Join("\n", options.Validate()));
    }

    [Fact]
    public void DecoderEncoderAndCodecDefaultToAutoAndH264()
    {
        StreamDeblurOptions options = ConfigLoader.Parse("""{ "streams": [ { "id": "a", "input": "a.mp4", "output": "a.mkv" } ] }""");
        StreamOptions stream = Assert.Single(options.Streams);
        Assert.Equal(("auto", "auto", null, "medium", false), (stream.Decoder, stream.Encoder, stream.Codec, stream.Preset, stream.Overwrite));
        Assert.Equal(new EncoderSettings("h264", EncoderSettings.DefaultH264Crf, "medium"), EncoderSettings.For(stream, "h264"));
        Assert.Equal(["-c:v", "libx264", "-crf", "18", "-preset", "medium", "-pix_fmt", "yuv420p"], EncoderSettings.For(stream, "h264").FfmpegArguments);
    }

    [Fact]
    public void CredentialsNeverReachValidationMessages()
    {
        StreamDeblurOptions options = ConfigLoader.Parse("""
            { "streams": [ { "id": "a", "input": "gopher://admin:hunter2@10.0.0.1/x", "output": "a.mkv", "forward": "http://u:pw@h/x" } ] }
            """);
        string message = string.Join("\n", options.Validate());
        Assert.Contains("streams[0].input", message);
        Assert.DoesNotContain("hunter2", message);
        Assert.DoesNotContain(":pw@", message);
    }

    [Fact]
    public void MissingFileIsNamed()
    {
        var ex = Assert.Throws<ConfigException>(() => ConfigLoader.Load("/nonexistent/streamdeblur.json"));
        Assert.Contains("/nonexistent/streamdeblur.json", ex.Message);
    }
}
