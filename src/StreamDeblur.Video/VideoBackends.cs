using StreamDeblur.Video.Libav;

namespace StreamDeblur.Video;

/// <summary>
/// Turns a stream's "auto" decoder, encoder and codec into what this machine has, fastest first: libav
/// (Debian's FFmpeg 5.1 libraries, in process), then an ffmpeg child process, then OpenCV, the universal
/// fallback. Live inputs are always read by ffmpeg; segments are written by OpenCV.
/// </summary>
public static class VideoBackends
{
    private static readonly Lazy<bool> s_ffmpegOnPath = new(() => OnPath("ffmpeg"));

    /// <summary>Resolves the stream's choices in place and says what was chosen, and why when it was not the fastest.</summary>
    public static string Resolve(StreamOptions stream)
    {
        bool libav = LibavNative.IsSupported(out string? libavMissing);
        var reasons = new List<string>();
        bool isFile = InputKind.Classify(stream.Input) == InputKindValue.File;
        if (stream.Decoder == "auto")
        {
            stream.Decoder = !isFile ? "ffmpeg" : libav ? "libav" : s_ffmpegOnPath.Value ? "ffmpeg" : "opencv";
        }

        if (stream.Encoder == "auto")
        {
            stream.Encoder = stream.SegmentSeconds > 0 ? "opencv" : libav ? "libav" : s_ffmpegOnPath.Value ? "ffmpeg" : "opencv";
            if (stream.SegmentSeconds > 0)
            {
                reasons.Add("segments are written by opencv");
            }
        }

        if (!libav && (stream.Decoder != "libav" || stream.Encoder != "libav"))
        {
            reasons.Add($"libav is not available: {libavMissing}");
        }

        if (stream.Encoder == "opencv" && stream.Codec is "h264" or "hevc")
        {
            throw new ConfigException($"stream {stream.Id}: codec {stream.Codec} needs the libav or ffmpeg encoder, and neither is available here ({libavMissing}; no ffmpeg on PATH)");
        }

        stream.Codec ??= stream.Encoder == "opencv" ? "mpeg4" : "h264";
        string output = stream.Output is null ? "" : $", encoder {stream.Encoder}, {EncoderSettings.For(stream, stream.Codec)}";
        return $"decoder {stream.Decoder}{output}" + (reasons.Count == 0 ? "" : $" ({string.Join("; ", reasons)})");
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, program)));
}
