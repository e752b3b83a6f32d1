using Xunit;

namespace StreamDeblur.Tests;

/// <summary>The fixed_camera section and the per-stream switch: defaults, the shipped config, and one named line per bad value.</summary>
public sealed class FixedCameraConfigTests
{
    [Fact]
    public void OnByDefaultAndTheShippedConfigSpellsOutTheDefaults()
    {
        var defaults = new FixedCameraOptions();
        Assert.True(defaults.Enabled);
        Assert.True(new StreamOptions().FixedCamera);
        Assert.Equal("models/deblur-fixed.json", defaults.Metadata);

        StreamDeblurOptions shipped = ConfigLoader.Load(Path.Combine(TestPaths.RepoRoot, "config", "streamdeblur.json"));
        Assert.Empty(shipped.Validate());
        string written = System.Text.Json.JsonSerializer.Serialize(shipped.FixedCamera, ConfigLoader.SerializerOptions);
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(defaults, ConfigLoader.SerializerOptions), written);
    }

    [Fact]
    public void AStreamTurnsItOffForItselfOnly()
    {
        StreamDeblurOptions options = ConfigLoader.Parse("""
            { "streams": [
                { "id": "ptz", "input": "a.mp4", "output": "a.mkv", "fixed_camera": false },
                { "id": "door", "input": "b.mp4", "output": "b.mkv" } ],
              "fixed_camera": { "max_age_seconds": 1.5, "motion": "affine" } }
            """);
        Assert.Empty(options.Validate());
        Assert.False(options.Streams[0].FixedCamera);
        Assert.True(options.Streams[1].FixedCamera);
        Assert.True(options.FixedCamera.Enabled);
        Assert.Equal(1.5, options.FixedCamera.MaxAgeSeconds);
        Assert.Equal("affine", options.FixedCamera.Motion);
    }

    [Theory]
    [InlineData("reference_sharpness_ratio", "0")]
    [InlineData("max_age_seconds", "-1")]
    [InlineData("max_age_frames", "-3")]
    [InlineData("max_luma_jump", "300")]
    [InlineData("min_scene_correlation", "1.5")]
    [InlineData("min_alignment_quality", "1")]
    [InlineData("max_shift_fraction", "0.9")]
    [InlineData("alignment_width", "16")]
    [InlineData("motion", "\"homography\"")]
    [InlineData("verify_tolerance", "1")]
    [InlineData("verify_width", "64")]
    [InlineData("max_kernel_fraction", "0.5")]
    [InlineData("metadata", "\"\"")]
    public void EachBadValueGetsItsOwnLineNamingItsKey(string key, string value)
    {
        StreamDeblurOptions options = ConfigLoader.Parse($$"""{ "fixed_camera": { "{{key}}": {{value}} } }""");
        options.Streams = [new StreamOptions { Id = "a", Input = "a.mp4", Output = "a.mkv" }];
        string line = Assert.Single(options.Validate());
        Assert.StartsWith($"fixed_camera.{key}: ", line);
        var ex = Assert.Throws<ConfigException>(() => ConfigLoader.ThrowIfInvalid(options));
        Assert.Contains($"fixed_camera.{key}", ex.Message);
    }

    [Fact]
    public void VerifyOnlyNeedsVerifiedFusionButNoTwoFrameModel()
    {
        StreamDeblurOptions verifyOnly = ConfigLoader.Parse("""{ "fixed_camera": { "two_frame_network": false, "metadata": "" } }""");
        verifyOnly.Streams = [new StreamOptions { Id = "a", Input = "a.mp4", Output = "a.mkv" }];
        Assert.Empty(verifyOnly.Validate());

        StreamDeblurOptions nothing = ConfigLoader.Parse("""{ "fixed_camera": { "two_frame_network": false, "verified_fusion": false } }""");
        nothing.Streams = [new StreamOptions { Id = "a", Input = "a.mp4", Output = "a.mkv" }];
        Assert.StartsWith("fixed_camera.two_frame_network: ", Assert.Single(nothing.Validate()));

        StreamDeblurOptions quality = ConfigLoader.Load(Path.Combine(TestPaths.RepoRoot, "config", "quality.json"));
        Assert.Empty(quality.Validate());
        Assert.True(quality.FixedCamera.Enabled);
        Assert.False(quality.FixedCamera.TwoFrameNetwork);
    }

    [Fact]
    public void SeveralBadValuesGiveSeveralLines()
    {
        StreamDeblurOptions options = ConfigLoader.Parse("""{ "fixed_camera": { "max_age_seconds": 0, "motion": "spline", "alignment_width": 9000 } }""");
        options.Streams = [new StreamOptions { Id = "a", Input = "a.mp4", Output = "a.mkv" }];
        Assert.Equal(
            ["fixed_camera.max_age_seconds", "fixed_camera.alignment_width", "fixed_camera.motion"],
            options.Validate().Select(l => l[..l.IndexOf(':', StringComparison.Ordinal)]));
    }

    [Fact]
    public void AMistypedKeyIsNamed()
    {
        var ex = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("""{ "fixed_camera": { "max_age_secs": 2 } }"""));
        Assert.Contains("unknown key", ex.Message);
        Assert.Contains("max_age_secs", ex.Message);
    }

    [Fact]
    public void TheTwoFrameModelRunsWithTheSingleFrameModelsSettingsButItsOwnFile()
    {
        var model = new ModelOptions { Metadata = "models/deblur-fast.json", Fp16 = true, ExecutionProvider = "cuda", IntraOpThreads = 3, TileSize = 256 };
        ModelOptions twoFrame = model.ForModel("models/deblur-fixed.json", int8: true);
        Assert.Equal(("models/deblur-fixed.json", false, true, "cuda", 3, 256), (twoFrame.Metadata, twoFrame.Fp16, twoFrame.Int8, twoFrame.ExecutionProvider, twoFrame.IntraOpThreads, twoFrame.TileSize));
        Assert.Equal("models/deblur-fast.json", model.Metadata); // a copy: the single-frame settings are untouched
        Assert.True(model.Fp16);
    }
}
