using System.Globalization;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using StreamDeblur.Video.Libav;
using static StreamDeblur.Video.Libav.LibavNative;

namespace StreamDeblur.Video;

/// <summary>
/// Encodes frames to a file in this process with Debian's libavcodec (mpeg4 at a fixed quantiser, the same
/// settings as <see cref="FfmpegFileSink.EncoderArguments"/>) and libavformat (the container follows the file's
/// extension). I420 frames that were not deblurred go to the encoder as they are.
/// A stopped run finalises the file. A killed one keeps what the muxer had written: Matroska clusters are
/// closed every second, so at most about a second is lost; use the ffmpeg encoder to lose nothing.
/// </summary>
public sealed unsafe class LibavFileSink : IFileSink
{
    /// <summary>ffmpeg's <c>-q:v 4</c>: the fixed quantiser as a lambda (FF_QP2LAMBDA × 4).</summary>
    private const int QuantiserLambda = 118 * 4;

    private readonly string _streamId;
    private readonly string _path;
    private readonly double _fps;
    private readonly ILogger _logger;
    private readonly Mat _scratch = new();
    private readonly Mat _padded = new();
    private readonly Mat _i420 = new();
    private void* _format;
    private void* _codec;
    private void* _stream;
    private void* _frame;
    private void* _packet;
    private AVRational _codecTimeBase;
    private AVRational _streamTimeBase;
    private Size _frameSize;
    private Size _size;
    private bool _started;
    private bool _fileOpen;
    private bool _finished;

    public LibavFileSink(string streamId, string path, double fps, ILogger logger)
    {
        _streamId = streamId;
        _path = path;
        _fps = fps;
        _logger = logger;
    }

    public IReadOnlyList<string> Files => _fileOpen ? [_path] : [];

    public long FramesWritten { get; private set; }

    public void Write(Frame frame)
    {
        if (!_started)
        {
            Start(frame.Size);
        }

        Mat pixels;
        if (_size == _frameSize)
        {
            pixels = frame.PixelsAs(PixelLayout.I420, _size, _scratch);
        }
        else
        {
            // Odd frame size: padded to even sides in BGR, then converted for the encoder.
            Cv2.CvtColor(VideoFileSink.PadToEncodedSize(frame, _frameSize, _scratch, _padded), _i420, ColorConversionCodes.BGR2YUV_I420);
            pixels = _i420;
        }

        byte* data = (byte*)pixels.Data;
        int lumaBytes = _size.Width * _size.Height;
        byte** planes = (byte**)_frame;
        int* strides = (int*)((byte*)_frame + FrameLineSizes);
        planes[0] = data;
        planes[1] = data + lumaBytes;
        planes[2] = data + (lumaBytes * 5 / 4);
        strides[0] = _size.Width;
        strides[1] = strides[2] = _size.Width / 2;
        LibavNative.Write(_frame, FramePts, FramesWritten);

        // The frame is not reference-counted, so libavcodec copies the pixels before this returns.
        Check(avcodec_send_frame(_codec, _frame), "cannot encode a frame");
        WritePackets();
        FramesWritten++;
    }

    private void WritePackets()
    {
        while (true)
        {
            int received = avcodec_receive_packet(_codec, _packet);
            if (received is ErrorAgain or ErrorEof)
            {
                return;
            }

            Check(received, "encoder failed");
            LibavNative.Write(_packet, PacketStreamIndex, 0);
            LibavNative.Write(_packet, PacketDuration, 1L); // one frame; without it MP4 drops the last frame from its edit list
            av_packet_rescale_ts(_packet, _codecTimeBase, _streamTimeBase);
            Check(av_interleaved_write_frame(_format, _packet), "cannot write a packet");
        }
    }

    private void Start(Size frameSize)
    {
        try
        {
            EnsureSupported();
        }
        catch (NotSupportedException ex)
        {
            throw new SinkException($"stream {_streamId}: encoder libav: {ex.Message}", ex);
        }

        OutputFolder.Create(_streamId, _path);

        _started = true;
        _frameSize = frameSize;
        _size = VideoFileSink.EncodedSize(frameSize);

        void* format = null;
        Check(avformat_alloc_output_context2(&format, null, null, _path), "has no container libavformat knows for its extension");
        _format = format;
        void* outputFormat = (void*)Read<nint>(_format, FormatContextOutputFormat);
        int formatFlags = Read<int>(outputFormat, OutputFormatFlags);

        void* encoder = avcodec_find_encoder_by_name("mpeg4");
        if (encoder is null)
        {
            throw new SinkException($"stream {_streamId}: this libavcodec has no mpeg4 encoder");
        }

        _codec = avcodec_alloc_context3(encoder);
        _codecTimeBase = av_d2q(1 / _fps, 1 << 16);
        LibavNative.Write(_codec, CodecContextWidth, _size.Width);
        LibavNative.Write(_codec, CodecContextHeight, _size.Height);
        LibavNative.Write(_codec, CodecContextPixelFormat, PixelFormatYuv420P);
        LibavNative.Write(_codec, CodecContextTimeBase, _codecTimeBase);
        LibavNative.Write(_codec, CodecContextFrameRate, av_d2q(_fps, 1 << 16));
        Check(av_opt_set(_codec, "threads", "auto", 0), "cannot set encoder threads");
        Check(av_opt_set(_codec, "flags", (formatFlags & FormatFlagGlobalHeader) != 0 ? "+qscale+global_header" : "+qscale", 0), "cannot set encoder flags");
        Check(av_opt_set(_codec, "global_quality", QuantiserLambda.ToString(CultureInfo.InvariantCulture), 0), "cannot set the quantiser");
        Check(avcodec_open2(_codec, encoder, null), "cannot open the mpeg4 encoder");

        _stream = avformat_new_stream(_format, null);
        Check(avcodec_parameters_from_context((void*)Read<nint>(_stream, StreamCodecParameters), _codec), "cannot describe the stream");
        LibavNative.Write(_stream, StreamTimeBase, _codecTimeBase);
        if ((formatFlags & FormatFlagNoFile) == 0)
        {
            void* io = null;
            Check(avio_open(&io, _path, IoFlagWrite), "cannot be opened for writing");
            LibavNative.Write(_format, FormatContextIo, (nint)io);
        }

        // Matroska: close a cluster every second, so that a killed run loses at most that much.
        void* options = null;
        _ = av_dict_set(&options, "cluster_time_limit", "1000", 0);
        int header = avformat_write_header(_format, &options);
        av_dict_free(&options);
        Check(header, "cannot start the container");
        _fileOpen = true;
        _streamTimeBase = Read<AVRational>(_stream, StreamTimeBase);

        _frame = av_frame_alloc();
        LibavNative.Write(_frame, FrameWidth, _size.Width);
        LibavNative.Write(_frame, FrameHeight, _size.Height);
        LibavNative.Write(_frame, FramePixelFormat, PixelFormatYuv420P);
        LibavNative.Write(_frame, FrameQuality, QuantiserLambda); // with +qscale, mpeg4 takes each frame's quantiser from here
        _packet = av_packet_alloc();
        _logger.LogDebug("stream {Stream}: libav mpeg4 encoder open for {Path} ({Width}x{Height}, {Fps} fps)",
            _streamId, _path, _size.Width, _size.Height, _fps.ToString("0.###", CultureInfo.InvariantCulture));
    }

    public void Complete()
    {
        if (!_started || _finished)
        {
            return;
        }

        _finished = true;
        try
        {
            if (_codec is not null && _packet is not null)
            {
                Check(avcodec_send_frame(_codec, null), "cannot flush the encoder");
                WritePackets();
                Check(av_write_trailer(_format), "cannot finish the container");
            }
        }
        catch (SinkException ex)
        {
            _logger.LogError("stream {Stream}: {Error}", _streamId, ex.Message);
        }
        finally
        {
            Release();
        }
    }

    private void Release()
    {
        if (_format is not null && Read<nint>(_format, FormatContextIo) != 0)
        {
            _ = avio_closep((void**)((byte*)_format + FormatContextIo));
        }

        void* frame = _frame;
        av_frame_free(&frame);
        void* packet = _packet;
        av_packet_free(&packet);
        void* codec = _codec;
        avcodec_free_context(&codec);
        avformat_free_context(_format);
        _frame = _packet = _codec = _format = _stream = null;
    }

    private void Check(int result, string problem)
    {
        if (result < 0)
        {
            throw new SinkException($"stream {_streamId}: output {_path} {problem} (libav: {Describe(result)})");
        }
    }

    public void Dispose()
    {
        Complete();
        if (_started && !_finished)
        {
            Release();
        }

        _scratch.Dispose();
        _padded.Dispose();
        _i420.Dispose();
    }
}
