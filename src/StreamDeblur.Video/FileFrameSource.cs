using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace StreamDeblur.Video;

/// <summary>Decodes a recorded video file with OpenCV's bundled FFmpeg. Never drops a frame.</summary>
public sealed class FileFrameSource : IFrameSource
{
    /// <summary>Frames above this many pixels are refused (16K and beyond would exhaust memory in the queues).</summary>
    public const long MaxFramePixels = 8192L * 4608;

    private readonly string _streamId;
    private readonly string _path;
    private readonly ILogger _logger;
    private VideoCapture? _capture;
    private VideoInfo? _info;

    private readonly double _paceFps;

    /// <param name="paceFps">Replay at this rate (frames per second), as `ffmpeg -re`; 0 reads as fast as possible.</param>
    public FileFrameSource(string streamId, string path, ILogger logger, double paceFps = 0)
    {
        _streamId = streamId;
        _path = path;
        _logger = logger;
        _paceFps = paceFps;
    }

    public VideoInfo Info => _info ?? throw new InvalidOperationException("the source is not open");

    public Task OpenAsync(CancellationToken cancellationToken)
    {
        RecordedFile.RequireNonEmpty(_path);
        _capture = new VideoCapture(_path, VideoCaptureAPIs.FFMPEG);
        if (!_capture.IsOpened())
        {
            throw new SourceException($"input is not a readable video (not a video file, or corrupt): {_path}");
        }

        _info = RecordedFile.Describe(_streamId, _path, _capture.FrameWidth, _capture.FrameHeight, _capture.Fps, (long)_capture.FrameCount, isLive: false, _logger);
        return Task.CompletedTask;
    }

    public Task RunAsync(ChannelWriter<Frame> output, CancellationToken cancellationToken) =>
        RecordedFile.ReadToEndAsync(_path, output, () => ReadFramesAsync(output, cancellationToken), cancellationToken);

    private async Task<long> ReadFramesAsync(ChannelWriter<Frame> output, CancellationToken cancellationToken)
    {
        VideoCapture capture = _capture ?? throw new InvalidOperationException("OpenAsync was not called");
        VideoInfo info = Info;
        long sequence = 0;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        while (!cancellationToken.IsCancellationRequested)
        {
            if (!RecordedFile.WaitForPace(sequence, _paceFps, started, cancellationToken))
            {
                break;
            }

            var image = new Mat();
            if (!capture.Read(image) || image.Empty())
            {
                image.Dispose();
                break;
            }

            Mat bgr = FrameFormat.ToBgr8(image, _streamId, _logger);
            double posMs = capture.Get(VideoCaptureProperties.PosMsec);
            TimeSpan timestamp = sequence > 0 && posMs <= 0
                ? TimeSpan.FromSeconds(sequence / info.FramesPerSecond)
                : TimeSpan.FromMilliseconds(Math.Max(0, posMs));
            var frame = new Frame(_streamId, sequence, timestamp, bgr);
            sequence++;
            PipelineMetrics.FramesRead.WithLabels(_streamId).Inc();
            await RecordedFile.HandOverAsync(output, frame, cancellationToken).ConfigureAwait(false);
        }

        if (info.FrameCount > 0 && sequence < info.FrameCount - 1 && !cancellationToken.IsCancellationRequested)
        {
            _logger.LogWarning(
                "stream {Stream}: decoding stopped after {Read} of {Expected} frames: the file is truncated or corrupt; everything decoded was kept",
                _streamId, sequence, info.FrameCount);
        }

        return sequence;
    }

    public ValueTask DisposeAsync()
    {
        _capture?.Dispose();
        return ValueTask.CompletedTask;
    }
}
