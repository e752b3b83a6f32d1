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
    private const double FallbackFps = 25;

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
        var file = new FileInfo(_path);
        if (!file.Exists)
        {
            throw new SourceException($"input file not found: {_path}");
        }

        if (file.Length == 0)
        {
            throw new SourceException($"input file is empty (0 bytes): {_path}");
        }

        _decoder = new LibavDecoder(_path);
        if (_decoder.Width <= 0 || _decoder.Height <= 0)
        {
            throw new SourceException($"input has no usable frame size ({_decoder.Width}x{_decoder.Height}): {_path}");
        }

        if ((long)_decoder.Width * _decoder.Height > FileFrameSource.MaxFramePixels)
        {
            throw new SourceException($"input frames are {_decoder.Width}x{_decoder.Height}, above the {FileFrameSource.MaxFramePixels / 1_000_000}-megapixel limit: {_path}");
        }

        double fps = _decoder.FramesPerSecond;
        if (!(fps > 0 && fps < 1000))
        {
            _logger.LogWarning("stream {Stream}: the file reports {Fps} fps; assuming {Fallback}", _streamId, fps, FallbackFps);
            fps = FallbackFps;
        }

        _info = new VideoInfo(_decoder.Width, _decoder.Height, fps, _decoder.FrameCount, _isLive);
        return Task.CompletedTask;
    }

    public Task RunAsync(ChannelWriter<Frame> output, CancellationToken cancellationToken) =>
        Task.Factory.StartNew(() => ReadAll(output, cancellationToken), cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default)
            .Unwrap();

    private async Task ReadAll(ChannelWriter<Frame> output, CancellationToken cancellationToken)
    {
        Exception? error = null;
        long sequence = 0;
        try
        {
            LibavDecoder decoder = _decoder ?? throw new InvalidOperationException("OpenAsync was not called");
            VideoInfo info = Info;
            var size = new Size(info.Width, info.Height);
            PixelLayout layout = Frame.PreferredPipeLayout(size);
            using var buffers = new FrameBufferPool(layout, size, maxRetained: 64);
            long started = Stopwatch.GetTimestamp();
            long firstFrameAt = 0;
            while (!cancellationToken.IsCancellationRequested)
            {
                if (_paceFps > 0)
                {
                    TimeSpan due = TimeSpan.FromSeconds(sequence / _paceFps) - Stopwatch.GetElapsedTime(started);
                    if (due > TimeSpan.Zero && cancellationToken.WaitHandle.WaitOne(due))
                    {
                        break;
                    }
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
                if (!output.TryWrite(frame))
                {
                    try
                    {
                        await output.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
                    }
                    catch
                    {
                        frame.Dispose();
                        throw;
                    }
                }
            }

            if (decoder.DecodeErrors > 0 || (info.FrameCount > 0 && sequence < info.FrameCount - 1 && !cancellationToken.IsCancellationRequested))
            {
                _logger.LogWarning(
                    "stream {Stream}: libav read {Read} of {Expected} frames with {Errors} errors ({First}): the file is truncated or corrupt; everything decoded was kept",
                    _streamId, sequence, info.FrameCount, decoder.DecodeErrors, decoder.FirstDecodeError ?? "none");
            }

            if (sequence == 0 && !cancellationToken.IsCancellationRequested)
            {
                error = new SourceException($"input has no decodable frame (corrupt video?): {_path}");
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            error = ex;
        }
        finally
        {
            output.TryComplete(error);
        }
    }

    public ValueTask DisposeAsync()
    {
        _decoder?.Dispose();
        _decoder = null;
        return ValueTask.CompletedTask;
    }
}
