using OpenCvSharp;
using static StreamDeblur.Video.Libav.LibavNative;

namespace StreamDeblur.Video.Libav;

/// <summary>
/// Decodes the best video stream of a file in this process with Debian's libavformat and libavcodec (SIMD
/// builds, with frame threads), and copies each picture into a caller's I420 or BGR buffer. One thread at a time.
/// </summary>
internal sealed unsafe class LibavDecoder : IDisposable
{
    private readonly string _path;
    private readonly int _streamIndex;
    private void* _format;
    private void* _codec;
    private void* _packet;
    private void* _frame;
    private void* _scaler;
    private bool _draining;

    public LibavDecoder(string path)
    {
        _path = path;
        try
        {
            EnsureSupported();
        }
        catch (NotSupportedException ex)
        {
            throw new SourceException($"decoder libav: {ex.Message}", ex);
        }

        try
        {
            void* format = null;
            Check(avformat_open_input(&format, path, null, null), "is not a readable video (not a video file, or corrupt)");
            _format = format;
            Check(avformat_find_stream_info(_format, null), "has no readable stream information (corrupt?)");
            void* decoder = null;
            _streamIndex = av_find_best_stream(_format, MediaTypeVideo, -1, -1, &decoder, 0);
            Check(_streamIndex, "has no decodable video stream");
            void* stream = Stream(_format, _streamIndex);
            void* parameters = (void*)Read<nint>(stream, StreamCodecParameters);
            Width = Read<int>(parameters, CodecParametersWidth);
            Height = Read<int>(parameters, CodecParametersHeight);
            FrameCount = Math.Max(0, Read<long>(stream, StreamFrameCount));
            AVRational rate = Read<AVRational>(stream, StreamAverageFrameRate);
            FramesPerSecond = rate.Num > 0 && rate.Den > 0 ? rate.ToDouble() : Read<AVRational>(stream, StreamRealFrameRate).ToDouble();

            _codec = avcodec_alloc_context3(decoder);
            Check(avcodec_parameters_to_context(_codec, parameters), "has codec parameters libavcodec cannot use");
            Check(av_opt_set(_codec, "threads", "auto", 0), "cannot be decoded with threads");
            Check(avcodec_open2(_codec, decoder, null), "uses a codec that cannot be opened");
            _packet = av_packet_alloc();
            _frame = av_frame_alloc();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int Width { get; }

    public int Height { get; }

    /// <summary>Frames per second from the container (average, else real base rate); 0 when it gives none.</summary>
    public double FramesPerSecond { get; }

    /// <summary>Frames the container announces; 0 when it does not say.</summary>
    public long FrameCount { get; }

    /// <summary>Packets the decoder refused, and the first reason.</summary>
    public int DecodeErrors { get; private set; }

    public string? FirstDecodeError { get; private set; }

    /// <summary>Decodes the next picture into <paramref name="image"/> (scaled to <paramref name="size"/> if the stream changed size); false at the end.</summary>
    public bool ReadInto(Mat image, PixelLayout layout, Size size)
    {
        while (true)
        {
            int received = avcodec_receive_frame(_codec, _frame);
            if (received == 0)
            {
                CopyPicture(image, layout, size);
                av_frame_unref(_frame);
                return true;
            }

            if (received == ErrorEof)
            {
                return false;
            }

            if (received != ErrorAgain)
            {
                NoteError(received);
                if (_draining)
                {
                    return false;
                }
            }

            if (_draining)
            {
                continue;
            }

            int read = av_read_frame(_format, _packet);
            if (read < 0)
            {
                // End of file, or a read error: either way, flush what the decoder holds.
                if (read != ErrorEof)
                {
                    NoteError(read);
                }

                _draining = true;
                _ = avcodec_send_packet(_codec, null);
                continue;
            }

            if (Read<int>(_packet, PacketStreamIndex) == _streamIndex)
            {
                int sent = avcodec_send_packet(_codec, _packet);
                if (sent < 0)
                {
                    NoteError(sent); // a corrupt packet: skip it, as ffmpeg does
                }
            }

            av_packet_unref(_packet);
        }
    }

    private void CopyPicture(Mat image, PixelLayout layout, Size size)
    {
        byte** planes = (byte**)_frame;
        int* strides = (int*)((byte*)_frame + FrameLineSizes);
        int width = Read<int>(_frame, FrameWidth);
        int height = Read<int>(_frame, FrameHeight);
        int format = Read<int>(_frame, FramePixelFormat);
        byte* target = (byte*)image.Data;
        if (layout == PixelLayout.I420 && format == PixelFormatYuv420P && width == size.Width && height == size.Height)
        {
            int lumaBytes = width * height;
            CopyPlane(planes[0], strides[0], target, width, height);
            CopyPlane(planes[1], strides[1], target + lumaBytes, width / 2, height / 2);
            CopyPlane(planes[2], strides[2], target + (lumaBytes * 5 / 4), width / 2, height / 2);
            return;
        }

        // Any other pixel format or size: one swscale pass into the buffer's layout.
        int targetFormat = layout == PixelLayout.I420 ? PixelFormatYuv420P : PixelFormatBgr24;
        _scaler = sws_getCachedContext(_scaler, width, height, format, size.Width, size.Height, targetFormat, SwsBilinear, null, null, null);
        if (_scaler is null)
        {
            throw new SourceException($"input {_path}: cannot convert libav pixel format {format} ({width}x{height}) to {layout}");
        }

        byte** targetPlanes = stackalloc byte*[4];
        int* targetStrides = stackalloc int[4];
        new Span<nint>(targetPlanes, 4).Clear();
        new Span<int>(targetStrides, 4).Clear();
        targetPlanes[0] = target;
        if (layout == PixelLayout.I420)
        {
            int lumaBytes = size.Width * size.Height;
            targetPlanes[1] = target + lumaBytes;
            targetPlanes[2] = target + (lumaBytes * 5 / 4);
            targetStrides[0] = size.Width;
            targetStrides[1] = targetStrides[2] = size.Width / 2;
        }
        else
        {
            targetStrides[0] = (int)image.Step();
        }

        _ = sws_scale(_scaler, planes, strides, 0, height, targetPlanes, targetStrides);
    }

    private static void CopyPlane(byte* source, int sourceStride, byte* target, int width, int height)
    {
        if (sourceStride == width)
        {
            Buffer.MemoryCopy(source, target, (long)width * height, (long)width * height);
            return;
        }

        for (int row = 0; row < height; row++)
        {
            Buffer.MemoryCopy(source + ((long)row * sourceStride), target + ((long)row * width), width, width);
        }
    }

    private void NoteError(int error)
    {
        DecodeErrors++;
        FirstDecodeError ??= Describe(error);
    }

    private void Check(int result, string problem)
    {
        if (result < 0)
        {
            throw new SourceException($"input {problem}: {_path} (libav: {Describe(result)})");
        }
    }

    public void Dispose()
    {
        void* frame = _frame;
        av_frame_free(&frame);
        _frame = null;
        void* packet = _packet;
        av_packet_free(&packet);
        _packet = null;
        void* codec = _codec;
        avcodec_free_context(&codec);
        _codec = null;
        void* format = _format;
        avformat_close_input(&format);
        _format = null;
        sws_freeContext(_scaler);
        _scaler = null;
    }
}
