using System.Globalization;

namespace StreamDeblur;

/// <summary>
/// How an output file's video is encoded: the codec, its constant rate factor and its preset. The libav sink
/// and the ffmpeg child take the same settings, and <c>streamdeblur bench</c> gives its ffmpeg peer the same
/// arguments (<see cref="FfmpegArguments"/>), so that their speeds compare like for like.
/// </summary>
/// <param name="Codec">h264 (libx264), hevc (libx265) or mpeg4 (MPEG-4 Part 2 at ffmpeg's <c>-q:v 4</c>).</param>
/// <param name="Crf">x264/x265's constant rate factor; ignored for mpeg4.</param>
/// <param name="Preset">x264/x265's preset; ignored for mpeg4.</param>
public sealed record EncoderSettings(string Codec, int Crf, string Preset)
{
    /// <summary>
    /// x264's CRF 18 is the customary "visually lossless" point: on the sample it measured 48.7 dB against the
    /// frames fed to the encoder (48.0 dB on the deblurred frames alone), where the MPEG-4 output of OpenCV gave
    /// 41.2 dB at a larger size (README, "Output files"; <c>bench/codec_quality.sh</c>).
    /// </summary>
    public const int DefaultH264Crf = 18;

    /// <summary>x265 at CRF 18 measured 48.2 dB on the sample, as x264 at 18 does, at a 4 % smaller file (CRF 22 gave 45.8 dB).</summary>
    public const int DefaultHevcCrf = 18;

    public const string DefaultPreset = "medium";

    /// <summary>ffmpeg's <c>-q:v</c> for mpeg4, the worker's only MPEG-4 setting.</summary>
    public const int Mpeg4Quantiser = 4;

    public static IReadOnlyList<string> Presets { get; } =
        ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"];

    /// <summary>The settings a stream asks for, with the codec's defaults filled in.</summary>
    public static EncoderSettings For(StreamOptions stream, string codec) => codec switch
    {
        "mpeg4" => new EncoderSettings("mpeg4", 0, stream.Preset),
        "hevc" => new EncoderSettings("hevc", stream.Crf ?? DefaultHevcCrf, stream.Preset),
        _ => new EncoderSettings("h264", stream.Crf ?? DefaultH264Crf, stream.Preset),
    };

    /// <summary>The libavcodec encoder's name.</summary>
    public string EncoderName => Codec switch
    {
        "h264" => "libx264",
        "hevc" => "libx265",
        _ => "mpeg4",
    };

    public bool HasRateFactor => Codec is "h264" or "hevc";

    /// <summary>The <c>ffmpeg</c> output options for the video stream.</summary>
    public IReadOnlyList<string> FfmpegArguments => Codec switch
    {
        "mpeg4" => ["-c:v", "mpeg4", "-q:v", Mpeg4Quantiser.ToString(CultureInfo.InvariantCulture), "-pix_fmt", "yuv420p"],
        "hevc" => ["-c:v", "libx265", "-crf", Crf.ToString(CultureInfo.InvariantCulture), "-preset", Preset, "-x265-params", "log-level=error", "-pix_fmt", "yuv420p"],
        _ => ["-c:v", "libx264", "-crf", Crf.ToString(CultureInfo.InvariantCulture), "-preset", Preset, "-pix_fmt", "yuv420p"],
    };

    public override string ToString() => HasRateFactor
        ? $"{Codec} ({EncoderName}, crf {Crf}, preset {Preset})"
        : $"{Codec} (q {Mpeg4Quantiser})";
}
