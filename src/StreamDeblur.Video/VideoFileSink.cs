using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace StreamDeblur.Video;

/// <summary>
/// Encodes frames to a video file with OpenCV's bundled FFmpeg (MPEG-4 Part 2 by default, as the bundled
/// build has no H.264 encoder). With segments, a new file starts every <c>segmentSeconds</c> of video, so a
/// crash loses at most the open segment: OpenCV's FFmpeg muxer buffers the tail of the open file in memory.
/// </summary>
public sealed class VideoFileSink : IFileSink
{
    private readonly string _path;
    private readonly double _fps;
    private readonly double _segmentSeconds;
    private readonly string _fourcc;
    private readonly string _streamId;
    private readonly ILogger _logger;
    private readonly List<string> _files = [];
    private VideoWriter? _writer;
    private Size _frameSize;
    private Size _size;
    private long _framesInSegment;
    private bool _warnedResize;

    public VideoFileSink(string streamId, string path, double fps, double segmentSeconds, ILogger logger, string fourcc = "mp4v")
    {
        _streamId = streamId;
        _path = path;
        _fps = fps;
        _segmentSeconds = segmentSeconds;
        _fourcc = fourcc;
        _logger = logger;
    }

    /// <summary>Files written so far, in order.</summary>
    public IReadOnlyList<string> Files => _files;

    public long FramesWritten { get; private set; }

    public void Write(Frame frame)
    {
        if (_writer is null || (_segmentSeconds > 0 && _framesInSegment >= Math.Max(1, (long)Math.Round(_segmentSeconds * _fps))))
        {
            StartSegment(_writer is null ? frame.Size : _frameSize);
        }

        Mat image = frame.ToBgr(); // OpenCV's writer takes BGR; the sink owns the frame now
        if (image.Size() == _frameSize && _size != _frameSize)
        {
            // Odd width or height: pad one replicated pixel, as MPEG-4's 4:2:0 needs even sizes.
            using var padded = new Mat();
            Cv2.CopyMakeBorder(image, padded, 0, _size.Height - image.Height, 0, _size.Width - image.Width, BorderTypes.Replicate);
            _writer!.Write(padded);
        }
        else if (image.Size() != _frameSize)
        {
            // A live source may come back at another resolution; the file keeps its first size.
            if (!_warnedResize)
            {
                _logger.LogWarning("stream {Stream}: frame size changed from {Old} to {New}; scaling to the output's size", _streamId, _frameSize, image.Size());
                _warnedResize = true;
            }

            using var resized = new Mat();
            Cv2.Resize(image, resized, _frameSize);
            using var padded = new Mat();
            Cv2.CopyMakeBorder(resized, padded, 0, _size.Height - _frameSize.Height, 0, _size.Width - _frameSize.Width, BorderTypes.Replicate);
            _writer!.Write(padded);
        }
        else
        {
            _writer!.Write(image);
        }

        _framesInSegment++;
        FramesWritten++;
    }

    private void StartSegment(Size size)
    {
        _writer?.Dispose();
        string path = _segmentSeconds > 0 ? SegmentPath(_path, _files.Count) : _path;
        OutputFolder.Create(_streamId, path);

        _frameSize = size;
        _size = EncodedSize(size);
        _writer = new VideoWriter(path, FourCC.FromString(_fourcc), _fps, _size);
        if (!_writer.IsOpened())
        {
            _writer.Dispose();
            _writer = null;
            throw new SinkException($"cannot open output video {path} ({_fourcc}, {size.Width}x{size.Height} at {_fps:F2} fps): check the folder and the file extension (.mkv, .mp4, .avi)");
        }

        _files.Add(path);
        _framesInSegment = 0;
    }

    /// <summary>The size the file is encoded at: the frame size rounded up to even numbers.</summary>
    public static Size EncodedSize(Size frameSize) => new(frameSize.Width + (frameSize.Width & 1), frameSize.Height + (frameSize.Height & 1));

    /// <summary>Where segment <paramref name="index"/> of <paramref name="path"/> goes: name_00000.ext.</summary>
    public static string SegmentPath(string path, int index)
    {
        string dir = Path.GetDirectoryName(path) ?? "";
        string name = Path.GetFileNameWithoutExtension(path);
        string ext = Path.GetExtension(path);
        return Path.Combine(dir, $"{name}_{index:D5}{ext}");
    }

    public void Complete()
    {
        _writer?.Release();
        _writer?.Dispose();
        _writer = null;
    }

    public void Dispose() => Complete();
}
