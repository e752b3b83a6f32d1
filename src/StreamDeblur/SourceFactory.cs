using Microsoft.Extensions.Logging;
using StreamDeblur.Video;

namespace StreamDeblur.App;

/// <summary>Chooses the source for a stream's input: OpenCV (or, as configured, ffmpeg or libav) for files, an ffmpeg child process for live inputs.</summary>
public static class SourceFactory
{
    public static IFrameSource Create(StreamOptions stream, ILogger logger, ISourceStateObserver observer) =>
        InputKind.Classify(stream.Input) switch
        {
            InputKindValue.File when stream.Decoder == "ffmpeg" =>
                new FfmpegFrameSource(stream.Id, stream.Input, stream.IsLive, stream.Reconnect, logger, observer, stream.PaceFps),
            InputKindValue.File when stream.Decoder == "libav" => new LibavFrameSource(stream.Id, stream.Input, logger, stream.IsLive, stream.PaceFps),
            InputKindValue.File => new FileFrameSource(stream.Id, stream.Input, logger, stream.PaceFps),
            InputKindValue.Network or InputKindValue.Camera => new FfmpegFrameSource(stream.Id, stream.Input, stream.IsLive, stream.Reconnect, logger, observer),
            _ => throw new SourceException($"stream {stream.Id}: unsupported input '{UrlRedactor.Redact(stream.Input)}'"),
        };
}

/// <summary>Creates live-forward sinks.</summary>
public static class SinkFactory
{
    public static IFrameSink CreateForward(StreamOptions stream, VideoInfo info, ILogger logger) =>
        new FfmpegForwardSink(stream.Id, stream.Forward ?? throw new SinkException($"stream {stream.Id}: no forward URL"), info, logger);
}
