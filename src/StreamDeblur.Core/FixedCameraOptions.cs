namespace StreamDeblur;

/// <summary>
/// Fixed-camera mode: a blurry frame is deblurred by a two-frame network that also reads the last
/// confidently sharp frame of the same stream, registered to it. A moving camera (a cut, a PTZ move, a
/// lighting jump) falls back to single-frame deblurring through the scene-change and alignment checks below.
/// </summary>
public sealed class FixedCameraOptions
{
    /// <summary>On by default; off runs every stream exactly as single-frame deblurring does.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The two-frame model's metadata (its <c>reference_input</c> names the second input). Missing: single-frame only, with a log line.</summary>
    public string Metadata { get; set; } = "models/deblur-fixed.json";

    /// <summary>Use the two-frame model's INT8 variant (its metadata's <c>int8_file</c>).</summary>
    public bool Int8 { get; set; }

    /// <summary>A frame the router passes as sharp becomes the reference only when its sharpness is at least the stream's baseline × this.</summary>
    public double ReferenceSharpnessRatio { get; set; } = 0.85;

    /// <summary>A reference older than this, in stream time, is dropped (stale).</summary>
    public double MaxAgeSeconds { get; set; } = 3;

    /// <summary>A reference more than this many frames old is dropped (stale); 0 sets no limit in frames.</summary>
    public int MaxAgeFrames { get; set; }

    /// <summary>Scene change (lighting jump): the frame's mean luma differs from the reference's by more than this many levels (0..255).</summary>
    public double MaxLumaJump { get; set; } = 16;

    /// <summary>Scene change (cut, PTZ move): the correlation of the frame's and the reference's 64-pixel-wide luma thumbnails falls below this.</summary>
    public double MinSceneCorrelation { get; set; } = 0.7;

    /// <summary>The alignment's ECC correlation must reach this, or the frame falls back to single-frame deblurring (unaligned).</summary>
    public double MinAlignmentQuality { get; set; } = 0.8;

    /// <summary>The alignment's shift may not exceed this fraction of the frame width, or the frame falls back (unaligned).</summary>
    public double MaxShiftFraction { get; set; } = 0.05;

    /// <summary>Luma is downscaled to this width before alignment.</summary>
    public int AlignmentWidth { get; set; } = 256;

    /// <summary>The motion model the alignment fits: translation, euclidean (shift and rotation) or affine.</summary>
    public string Motion { get; set; } = "euclidean";

    /// <summary>
    /// Verified fusion: measure the blur between the aligned reference and the frame, and where the frame is provably
    /// the reference seen through that blur, restore it from the frame itself plus the detail the blur took away
    /// (the network's output everywhere else). Off: the two-frame network's output alone.
    /// </summary>
    public bool VerifiedFusion { get; set; } = true;

    /// <summary>
    /// Run the two-frame network on frames that have an aligned reference. Off ("verify only"): every blurry frame goes
    /// through the single-frame model, and verified fusion blends in the part of it proved to be the reference seen
    /// through the measured blur; the two-frame model is not loaded. Needs <see cref="VerifiedFusion"/>. For a
    /// single-frame model that the two-frame network was not forked from (config/quality.json).
    /// </summary>
    public bool TwoFrameNetwork { get; set; } = true;

    /// <summary>
    /// Verified fusion on live streams too. It runs on the stream's keeper thread, so a live frame skips it whenever
    /// the keeper is behind its source, until a probe off that thread has measured what verifying costs, and while that
    /// cost exceeds the stream's frame interval (measured again every 30 s of stream time). Files always verify.
    /// </summary>
    public bool VerifyLive { get; set; } = true;

    /// <summary>A place fails verification where the local RMS difference from the blurred reference exceeds this many times the frame's median.</summary>
    public double VerifyTolerance { get; set; } = 3;

    /// <summary>
    /// A place's limit also grows by this share of the local RMS of the detail that verified fusion would add there
    /// (the reference minus its blurred self), up to twice the noise limit: along strong edges a kernel measured a
    /// fraction of a pixel off leaves a residual in proportion to the edge, not to any change. 0 judges by the noise alone.
    /// </summary>
    public double VerifyDetailAllowance { get; set; } = 0.1;

    /// <summary>Verification works on luma downscaled to at most this width (the restored detail is full-size).</summary>
    public int VerifyWidth { get; set; } = 1024;

    /// <summary>The largest blur kernel measured, as a fraction of the frame width (its support is bounded by this).</summary>
    public double MaxKernelFraction { get; set; } = 0.05;

    internal void Validate(string key, List<string> errors)
    {
        StreamDeblurOptions.Require(!Enabled || !TwoFrameNetwork || !string.IsNullOrWhiteSpace(Metadata), errors, $"{key}.metadata", "is required while fixed-camera mode runs the two-frame network");
        StreamDeblurOptions.Require(!Enabled || TwoFrameNetwork || VerifiedFusion, errors, $"{key}.two_frame_network", "false needs verified_fusion: without either, fixed-camera mode would do nothing");
        StreamDeblurOptions.Require(ReferenceSharpnessRatio is > 0 and <= 2, errors, $"{key}.reference_sharpness_ratio", $"{ReferenceSharpnessRatio} is outside (0, 2]");
        StreamDeblurOptions.Require(MaxAgeSeconds is > 0 and <= 3600, errors, $"{key}.max_age_seconds", $"{MaxAgeSeconds} is outside (0, 3600]");
        StreamDeblurOptions.Require(MaxAgeFrames is >= 0 and <= 1_000_000, errors, $"{key}.max_age_frames", $"{MaxAgeFrames} is outside 0..1000000");
        StreamDeblurOptions.Require(MaxLumaJump is > 0 and <= 255, errors, $"{key}.max_luma_jump", $"{MaxLumaJump} is outside (0, 255]");
        StreamDeblurOptions.Require(MinSceneCorrelation is >= -1 and < 1, errors, $"{key}.min_scene_correlation", $"{MinSceneCorrelation} is outside [-1, 1)");
        StreamDeblurOptions.Require(MinAlignmentQuality is > 0 and < 1, errors, $"{key}.min_alignment_quality", $"{MinAlignmentQuality} is outside (0, 1)");
        StreamDeblurOptions.Require(MaxShiftFraction is > 0 and <= 0.5, errors, $"{key}.max_shift_fraction", $"{MaxShiftFraction} is outside (0, 0.5]");
        StreamDeblurOptions.Require(AlignmentWidth is >= 64 and <= 1920, errors, $"{key}.alignment_width", $"{AlignmentWidth} is outside 64..1920");
        StreamDeblurOptions.Require(VerifyTolerance is >= 1.5 and <= 20, errors, $"{key}.verify_tolerance", $"{VerifyTolerance} is outside [1.5, 20]");
        StreamDeblurOptions.Require(VerifyDetailAllowance is >= 0 and <= 0.5, errors, $"{key}.verify_detail_allowance", $"{VerifyDetailAllowance} is outside [0, 0.5]");
        StreamDeblurOptions.Require(VerifyWidth is >= 128 and <= 3840, errors, $"{key}.verify_width", $"{VerifyWidth} is outside 128..3840");
        StreamDeblurOptions.Require(MaxKernelFraction is >= 0.01 and <= 0.1, errors, $"{key}.max_kernel_fraction", $"{MaxKernelFraction} is outside [0.01, 0.1]");
        StreamDeblurOptions.Require(Motion is "translation" or "euclidean" or "affine", errors, $"{key}.motion", $"'{Motion}' is not one of translation, euclidean, affine");
    }
}
