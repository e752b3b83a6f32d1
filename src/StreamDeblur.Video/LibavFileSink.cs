using System.Globalization;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using StreamDeblur.Video.Libav;
using static StreamDeblur.Video.Libav.LibavNative;

namespace StreamDeblur.Video;

/// <summary>
/// Encodes frames to a file in this process with Debian's libavcodec (libx264, libx265 or mpeg4, with the
/// same settings as the ffmpeg child's <see cref="EncoderSettings.FfmpegArguments"/>) and libavformat (the
/// container follows the file's extension), and copies the input's audio into it as it is
/// (<see cref="LibavAudioCopy"/>). I420 frames that were not deblurred go to the encoder as they are.
/// The file is written under its partial name until <see cref="Publish"/>. A stopped run finalises it. A
/// killed one keeps what the muxer had written: Matroska clusters and MP4 fragments (MP4 is written
/// fragmented) close every second, so at most about a second is lost; use the ffmpeg encoder to lose nothing.
/// </summary>
public sealed unsafe class LibavFileSink : IFileSink
{
    /// <summary>ffmpeg's <c>-q:v 4</c>: the fixed quantiser as a lambda (FF_QP2LAMBDA × 4).</summary>
    private const int QuantiserLambda = 118 * 4;

    private readonly string _streamId;
    private readonly OutputFile _output;
    private readonly string _path;
    private readonly double _fps;
    private readonly EncoderSettings _settings;
    private readonly string? _audioFrom;
    private LibavAudioCopy? _audio;
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

    /// <param name="audioFrom">A file whose audio tracks are copied into the output (the stream's input), or null.</param>
    public LibavFileSink(string streamId, string path, double fps, EncoderSettings settings, string? audioFrom, ILogger logger)
    {
        _streamId = streamId;
        _output = new OutputFile(path);
        _path = _output.PartialPath;
        _fps = fps;
        _settings = settings;
        _audioFrom = audioFrom;
        _logger = logger;
    }

    public IReadOnlyList<string> Files => _fileOpen ? [_output.CurrentPath] : [];

    public void Publish() => _output.Publish();

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
            long dts = Read<long>(_packet, PacketDts);
            _audio?.WriteUntil((dts == NoTimestamp ? FramesWritten : dts) * _codecTimeBase.ToDouble());
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

        void* encoder = avcodec_find_encoder_by_name(_settings.EncoderName);
        if (encoder is null)
        {
            throw new SinkException($"stream {_streamId}: this libavcodec has no {_settings.EncoderName} encoder");
        }

        // Bit-exact muxing: no random ids or dates in the container, so the same frames give the same file.
        Check(av_opt_set(_format, "fflags", "+bitexact", 0), "cannot set bit-exact muxing");
        _codec = avcodec_alloc_context3(encoder);
        _codecTimeBase = av_d2q(1 / _fps, 1 << 16);
        LibavNative.Write(_codec, CodecContextWidth, _size.Width);
        LibavNative.Write(_codec, CodecContextHeight, _size.Height);
        LibavNative.Write(_codec, CodecContextPixelFormat, PixelFormatYuv420P);
        LibavNative.Write(_codec, CodecContextTimeBase, _codecTimeBase);
        LibavNative.Write(_codec, CodecContextFrameRate, av_d2q(_fps, 1 << 16));
        Check(av_opt_set(_codec, "threads", "auto", 0), "cannot set encoder threads");
        string globalHeader = (formatFlags & FormatFlagGlobalHeader) != 0 ? "+global_header" : "";
        if (_settings.HasRateFactor)
        {
            // x264's and x265's own options live in the codec context's private data.
            if (globalHeader.Length > 0)
            {
                Check(av_opt_set(_codec, "flags", globalHeader, 0), "cannot set encoder flags");
            }

            Check(av_opt_set(_codec, "crf", _settings.Crf.ToString(CultureInfo.InvariantCulture), OptionSearchChildren), "cannot set the crf");
            Check(av_opt_set(_codec, "preset", _settings.Preset, OptionSearchChildren), "cannot set the preset");
            if (_settings.Codec == "hevc")
            {
                Check(av_opt_set(_codec, "x265-params", "log-level=error", OptionSearchChildren), "cannot quieten x265");
            }
        }
        else
        {
            Check(av_opt_set(_codec, "flags", "+qscale" + globalHeader, 0), "cannot set encoder flags");
            Check(av_opt_set(_codec, "global_quality", QuantiserLambda.ToString(CultureInfo.InvariantCulture), 0), "cannot set the quantiser");
        }

        Check(avcodec_open2(_codec, encoder, null), $"cannot open the {_settings.EncoderName} encoder");

        _stream = avformat_new_stream(_format, null);
        Check(avcodec_parameters_from_context((void*)Read<nint>(_stream, StreamCodecParameters), _codec), "cannot describe the stream");
        LibavNative.Write(_stream, StreamTimeBase, _codecTimeBase);
        if (_audioFrom is not null)
        {
            _audio = LibavAudioCopy.Open(_audioFrom, _format, _streamId, _logger);
        }

        if ((formatFlags & FormatFlagNoFile) == 0)
        {
            void* io = null;
            Check(avio_open(&io, _path, IoFlagWrite), "cannot be opened for writing");
            LibavNative.Write(_format, FormatContextIo, (nint)io);
        }

        // Matroska closes a cluster, and MP4 (written fragmented) a fragment, every second, so that a killed
        // run loses at most that much; a plain MP4 would be unreadable without the index written at the end.
        void* options = null;
        _ = av_dict_set(&options, "cluster_time_limit", "1000", 0);
        _ = av_dict_set(&options, "movflags", "+delay_moov+default_base_moof", 0);
        _ = av_dict_set(&options, "frag_duration", "1000000", 0);
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
        _logger.LogDebug("stream {Stream}: libav {Codec} encoder open for {Path} ({Width}x{Height}, {Fps} fps)",
            _streamId, _settings, _path, _size.Width, _size.Height, _fps.ToString("0.###", CultureInfo.InvariantCulture));
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
                _audio?.WriteUntil(FramesWritten / _fps); // the audio ends where the video ends
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
        _audio?.Dispose();
        _audio = null;
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
            throw new SinkException($"stream {_streamId}: output {_output.FinalPath} {problem} (libav: {Describe(result)})");
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
