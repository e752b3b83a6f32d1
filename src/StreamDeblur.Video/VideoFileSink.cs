using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace StreamDeblur.Video;

/// <summary>
/// Encodes frames to a video file with OpenCV's bundled FFmpeg (MPEG-4 Part 2 by default, as the bundled
/// build has no H.264 encoder, and no audio). With segments, a new file starts every <c>segmentSeconds</c> of
/// video, so a crash loses at most the open segment: OpenCV's FFmpeg muxer buffers the tail of the open file
/// in memory. Each file is written under its partial name; a closed segment is renamed into place at once,
/// the last one by <see cref="Publish"/>.
/// </summary>
public sealed class VideoFileSink : IFileSink
{
    private readonly string _path;
    private readonly double _fps;
    private readonly double _segmentSeconds;
    private readonly string _fourcc;
    private readonly string _streamId;
    private readonly ILogger _logger;
    private readonly List<OutputFile> _files = [];
    private static int s_audioWarned;
    private VideoWriter? _writer;
    private Size _frameSize;
    private Size _size;
    private long _framesInSegment;
    private bool _warnedResize;
    private readonly Mat _scratch = new();
    private readonly Mat _padded = new();

    /// <param name="audioFrom">The stream's input file, whose audio this encoder cannot keep (said once per run), or null.</param>
    public VideoFileSink(string streamId, string path, double fps, double segmentSeconds, ILogger logger, string fourcc = "mp4v", string? audioFrom = null)
    {
        _streamId = streamId;
        _path = path;
        _fps = fps;
        _segmentSeconds = segmentSeconds;
        _fourcc = fourcc;
        _logger = logger;
        if (audioFrom is not null && Interlocked.Exchange(ref s_audioWarned, 1) == 0)
        {
            logger.LogWarning("encoder opencv cannot copy audio: its outputs have no audio track (encoder libav or ffmpeg keeps the input's audio)");
        }
    }

    /// <summary>Files written so far, in order, where they are on disk now.</summary>
    public IReadOnlyList<string> Files => _files.Select(f => f.CurrentPath).ToList();

    public void Publish()
    {
        foreach (OutputFile file in _files)
        {
            file.Publish();
        }
    }

    public long FramesWritten { get; private set; }

    public void Write(Frame frame)
    {
        if (_writer is null || (_segmentSeconds > 0 && _framesInSegment >= Math.Max(1, (long)Math.Round(_segmentSeconds * _fps))))
        {
            StartSegment(_writer is null ? frame.Size : _frameSize);
        }

        if (frame.Size != _frameSize && !_warnedResize)
        {
            // A live source may come back at another resolution; the file keeps its first size.
            _logger.LogWarning("stream {Stream}: frame size changed from {Old} to {New}; scaling to the output's size", _streamId, _frameSize, frame.Size);
            _warnedResize = true;
        }

        // OpenCV's writer takes BGR. The caller keeps the frame, so an I420 frame is converted into scratch.
        // Odd width or height: one replicated pixel of padding, as MPEG-4's 4:2:0 needs even sizes.
        _writer!.Write(frame.Size == _frameSize && _size == _frameSize
            ? frame.PixelsAs(PixelLayout.Bgr24, _frameSize, _scratch)
            : PadToEncodedSize(frame, _frameSize, _scratch, _padded));
        _framesInSegment++;
        FramesWritten++;
    }

    private void StartSegment(Size size)
    {
        if (_writer is not null)
        {
            _writer.Dispose(); // a closed segment is complete: it takes its final name at once
            _files[^1].Publish();
        }

        var file = new OutputFile(_segmentSeconds > 0 ? SegmentPath(_path, _files.Count) : _path);
        string path = file.PartialPath;
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

        _files.Add(file);
        _framesInSegment = 0;
    }

    /// <summary>The size the file is encoded at: the frame size rounded up to even numbers.</summary>
    /// <summary>
    /// An odd-sized frame as the ffmpeg and libav sinks encode it: in BGR, scaled to <paramref name="frameSize"/>
    /// (the output's first frame size) if the source changed, and padded by one replicated pixel to
    /// <see cref="EncodedSize"/>. Returns <paramref name="padded"/>.
    /// </summary>
    internal static Mat PadToEncodedSize(Frame frame, Size frameSize, Mat scratch, Mat padded)
    {
        frame.CopyTo(scratch, PixelLayout.Bgr24, frameSize);
        Size size = EncodedSize(frameSize);
        Cv2.CopyMakeBorder(scratch, padded, 0, size.Height - frameSize.Height, 0, size.Width - frameSize.Width, BorderTypes.Replicate);
        return padded;
    }

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

    public void Dispose()
    {
        Complete();
        _scratch.Dispose();
        _padded.Dispose();
    }
}
