using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using StreamDeblur.Video.Libav;

namespace StreamDeblur.Video;

/// <summary>
/// Decodes a recorded file in this process with Debian's libavcodec, into pooled I420 buffers (BGR for odd
/// sizes). The cheapest path per frame: no pipe, no colour conversion for frames that are not deblurred.
/// Never drops a frame.
/// </summary>
public sealed class LibavFrameSource : IFrameSource
{
    private readonly string _streamId;
    private readonly string _path;
    private readonly bool _isLive;
    private readonly double _paceFps;
    private readonly ILogger _logger;
    private LibavDecoder? _decoder;
    private VideoInfo? _info;

    /// <param name="isLive">Replayed as live: timestamps are wall-clock time since the first frame.</param>
    /// <param name="paceFps">Replay at this rate (frames per second), as `ffmpeg -re`; 0 reads as fast as possible.</param>
    public LibavFrameSource(string streamId, string path, ILogger logger, bool isLive = false, double paceFps = 0)
    {
        _streamId = streamId;
        _path = path;
        _logger = logger;
        _isLive = isLive;
        _paceFps = paceFps;
    }

    public VideoInfo Info => _info ?? throw new InvalidOperationException("the source is not open");

    public Task OpenAsync(CancellationToken cancellationToken)
    {
        RecordedFile.RequireNonEmpty(_path);
        _decoder = new LibavDecoder(_path);
        _info = RecordedFile.Describe(_streamId, _path, _decoder.Width, _decoder.Height, _decoder.FramesPerSecond, _decoder.FrameCount, _isLive, _logger);
        return Task.CompletedTask;
    }

    public Task RunAsync(ChannelWriter<Frame> output, CancellationToken cancellationToken) =>
        RecordedFile.ReadToEndAsync(_path, output, () => ReadFramesAsync(output, cancellationToken), cancellationToken);

    private async Task<long> ReadFramesAsync(ChannelWriter<Frame> output, CancellationToken cancellationToken)
    {
        LibavDecoder decoder = _decoder ?? throw new InvalidOperationException("OpenAsync was not called");
        VideoInfo info = Info;
        var size = new Size(info.Width, info.Height);
        PixelLayout layout = Frame.PreferredPipeLayout(size);
        using var buffers = new FrameBufferPool(layout, size, maxRetained: 64);
        long sequence = 0;
        long started = Stopwatch.GetTimestamp();
        long firstFrameAt = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (!RecordedFile.WaitForPace(sequence, _paceFps, started, cancellationToken))
            {
                break;
            }

            Mat image = buffers.Rent();
            if (!decoder.ReadInto(image, layout, size))
            {
                buffers.Return(image);
                break;
            }

            firstFrameAt = firstFrameAt == 0 ? Stopwatch.GetTimestamp() : firstFrameAt;
            TimeSpan timestamp = _isLive ? Stopwatch.GetElapsedTime(firstFrameAt) : TimeSpan.FromSeconds(sequence / info.FramesPerSecond);
            var frame = new Frame(_streamId, sequence, timestamp, image, layout, buffers);
            sequence++;
            PipelineMetrics.FramesRead.WithLabels(_streamId).Inc();
            await RecordedFile.HandOverAsync(output, frame, cancellationToken).ConfigureAwait(false);
        }

        if (decoder.DecodeErrors > 0 || (info.FrameCount > 0 && sequence < info.FrameCount - 1 && !cancellationToken.IsCancellationRequested))
        {
            _logger.LogWarning(
                "stream {Stream}: libav read {Read} of {Expected} frames with {Errors} errors ({First}): the file is truncated or corrupt; everything decoded was kept",
                _streamId, sequence, info.FrameCount, decoder.DecodeErrors, decoder.FirstDecodeError ?? "none");
        }

        return sequence;
    }

    public ValueTask DisposeAsync()
    {
        _decoder?.Dispose();
        _decoder = null;
        return ValueTask.CompletedTask;
    }
}
