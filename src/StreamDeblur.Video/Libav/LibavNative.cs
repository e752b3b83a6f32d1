using System.Runtime.InteropServices;
using System.Text;

namespace StreamDeblur.Video.Libav;

/// <summary>A rational number as libav passes it by value (<c>AVRational</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly record struct AVRational(int Num, int Den)
{
    public double ToDouble() => Den == 0 ? 0 : (double)Num / Den;
}

/// <summary>
/// The few entry points of Debian's FFmpeg 5.1 shared libraries (libavformat 59, libavcodec 59, libavutil 57,
/// libswscale 6) that in-process decoding and encoding need. The struct fields that have no accessor are
/// read at their offsets in those versions (checked against the headers with <c>offsetof</c>), so
/// <see cref="EnsureSupported"/> refuses any other major version instead of reading the wrong field.
/// </summary>
internal static unsafe partial class LibavNative
{
    private const string Format = "libavformat.so.59";
    private const string Codec = "libavcodec.so.59";
    private const string Util = "libavutil.so.57";
    private const string Scale = "libswscale.so.6";

    public const int MediaTypeVideo = 0;
    public const int MediaTypeAudio = 1;
    public const int OptionSearchChildren = 1; // AV_OPT_SEARCH_CHILDREN: also the codec's private options (crf, preset)
    public const long NoTimestamp = long.MinValue; // AV_NOPTS_VALUE
    public const int PixelFormatYuv420P = 0;
    public const int PixelFormatBgr24 = 3;
    public const int ErrorAgain = -11; // AVERROR(EAGAIN)
    public const int ErrorEof = -541478725; // AVERROR_EOF
    public const int IoFlagWrite = 2;
    public const int FormatFlagNoFile = 0x1; // AVFMT_NOFILE
    public const int FormatFlagGlobalHeader = 0x40; // AVFMT_GLOBALHEADER
    public const int SwsBilinear = 2;
    public const int LogFatal = 8;

    // Field offsets in FFmpeg 5.1 (libavformat 59, libavcodec 59, libavutil 57), x86-64.
    public const int FormatContextOutputFormat = 16;
    public const int FormatContextIo = 32;
    public const int FormatContextStreamCount = 44;
    public const int FormatContextStreams = 48;
    public const int FormatContextStartTime = 64;
    public const int OutputFormatFlags = 44;
    public const int StreamIndex = 0;
    public const int StreamTimeBase = 16;
    public const int StreamStartTime = 24;
    public const int StreamFrameCount = 40;
    public const int StreamAverageFrameRate = 72;
    public const int StreamRealFrameRate = 200;
    public const int StreamCodecParameters = 208;
    public const int CodecParametersType = 0;
    public const int CodecParametersCodecId = 4;
    public const int CodecParametersTag = 8;
    public const int CodecParametersFormat = 28;
    public const int CodecParametersWidth = 56;
    public const int CodecParametersHeight = 60;
    public const int PacketPts = 8;
    public const int PacketDts = 16;
    public const int PacketStreamIndex = 36;
    public const int PacketDuration = 64;
    public const int PacketPosition = 72;
    public const int FrameLineSizes = 64;
    public const int FrameWidth = 104;
    public const int FrameHeight = 108;
    public const int FramePixelFormat = 116;
    public const int FramePts = 136;
    public const int FrameQuality = 168;
    public const int CodecContextTimeBase = 100;
    public const int CodecContextWidth = 116;
    public const int CodecContextHeight = 120;
    public const int CodecContextPixelFormat = 136;
    public const int CodecContextFrameRate = 712;

    private static readonly Lazy<string?> Unsupported = new(Probe);

    /// <summary>Throws <see cref="NotSupportedException"/> naming what is missing unless FFmpeg 5.1's libraries load.</summary>
    public static void EnsureSupported()
    {
        if (Unsupported.Value is { } reason)
        {
            throw new NotSupportedException(reason);
        }
    }

    private static string? Probe()
    {
        try
        {
            (int format, int codec, int util) = (avformat_version() >> 16, avcodec_version() >> 16, avutil_version() >> 16);
            if (format != 59 || codec != 59 || util != 57)
            {
                return $"libav needs FFmpeg 5.1's libraries (libavformat 59, libavcodec 59, libavutil 57); found {format}, {codec}, {util}. Use decoder/encoder \"ffmpeg\"";
            }

            _ = swscale_version();
            // libav would print every concealed macroblock error to stderr, unstructured. The sources and sinks
            // report what matters through the worker's log instead (decode errors counted, with the first one).
            av_log_set_level(LogFatal);
            return null;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return $"libav needs Debian's FFmpeg 5.1 shared libraries (apt-get install ffmpeg): {ex.Message}";
        }
    }

    /// <summary>False, with the reason, unless FFmpeg 5.1's libraries load.</summary>
    public static bool IsSupported(out string? reason)
    {
        reason = Unsupported.Value;
        return reason is null;
    }

    /// <summary>libavcodec's short name for a codec id (aac, pcm_s16le, …).</summary>
    public static string CodecName(int codecId) => Marshal.PtrToStringUTF8((nint)avcodec_get_name(codecId)) ?? $"codec {codecId}";

    /// <summary>libav's text for an error code.</summary>
    public static string Describe(int error)
    {
        byte* buffer = stackalloc byte[256];
        return av_strerror(error, buffer, 256) == 0 ? Encoding.UTF8.GetString(buffer, Strlen(buffer)) : $"error {error}";
    }

    private static int Strlen(byte* text)
    {
        int length = 0;
        while (text[length] != 0)
        {
            length++;
        }

        return length;
    }

    public static T Read<T>(void* structure, int offset)
        where T : unmanaged => *(T*)((byte*)structure + offset);

    public static void Write<T>(void* structure, int offset, T value)
        where T : unmanaged => *(T*)((byte*)structure + offset) = value;

    /// <summary>The i-th stream of a format context (an <c>AVStream*</c>).</summary>
    public static void* Stream(void* formatContext, int index) => ((void**)Read<nint>(formatContext, FormatContextStreams))[index];

    [LibraryImport(Format)] public static partial int avformat_version();
    [LibraryImport(Format, StringMarshalling = StringMarshalling.Utf8)] public static partial int avformat_open_input(void** context, string url, void* format, void** options);
    [LibraryImport(Format)] public static partial int avformat_find_stream_info(void* context, void** options);
    [LibraryImport(Format)] public static partial int av_find_best_stream(void* context, int type, int wanted, int related, void** decoder, int flags);
    [LibraryImport(Format)] public static partial int av_read_frame(void* context, void* packet);
    [LibraryImport(Format)] public static partial void avformat_close_input(void** context);
    [LibraryImport(Format, StringMarshalling = StringMarshalling.Utf8)] public static partial int avformat_alloc_output_context2(void** context, void* format, string? formatName, string fileName);
    [LibraryImport(Format)] public static partial void* avformat_new_stream(void* context, void* codec);
    [LibraryImport(Format, StringMarshalling = StringMarshalling.Utf8)] public static partial int avio_open(void** io, string url, int flags);
    [LibraryImport(Format)] public static partial int avio_closep(void** io);
    [LibraryImport(Format)] public static partial int avformat_write_header(void* context, void** options);
    [LibraryImport(Format)] public static partial int av_interleaved_write_frame(void* context, void* packet);
    [LibraryImport(Format)] public static partial int av_write_trailer(void* context);
    [LibraryImport(Format)] public static partial void avformat_free_context(void* context);
    [LibraryImport(Format)] public static partial int avformat_query_codec(void* outputFormat, int codecId, int compliance);


    [LibraryImport(Codec)] public static partial int avcodec_version();
    [LibraryImport(Codec, StringMarshalling = StringMarshalling.Utf8)] public static partial void* avcodec_find_encoder_by_name(string name);
    [LibraryImport(Codec)] public static partial void* avcodec_alloc_context3(void* codec);
    [LibraryImport(Codec)] public static partial void avcodec_free_context(void** context);
    [LibraryImport(Codec)] public static partial int avcodec_parameters_to_context(void* context, void* parameters);
    [LibraryImport(Codec)] public static partial int avcodec_parameters_from_context(void* parameters, void* context);
    [LibraryImport(Codec)] public static partial int avcodec_parameters_copy(void* destination, void* source);
    [LibraryImport(Codec)] public static partial byte* avcodec_get_name(int codecId);
    [LibraryImport(Codec)] public static partial int avcodec_open2(void* context, void* codec, void** options);
    [LibraryImport(Codec)] public static partial int avcodec_send_packet(void* context, void* packet);
    [LibraryImport(Codec)] public static partial int avcodec_receive_frame(void* context, void* frame);
    [LibraryImport(Codec)] public static partial int avcodec_send_frame(void* context, void* frame);
    [LibraryImport(Codec)] public static partial int avcodec_receive_packet(void* context, void* packet);
    [LibraryImport(Codec)] public static partial void* av_packet_alloc();
    [LibraryImport(Codec)] public static partial void av_packet_free(void** packet);
    [LibraryImport(Codec)] public static partial void av_packet_unref(void* packet);
    [LibraryImport(Codec)] public static partial void av_packet_rescale_ts(void* packet, AVRational source, AVRational destination);

    [LibraryImport(Util)] public static partial int avutil_version();
    [LibraryImport(Util)] public static partial void av_log_set_level(int level);
    [LibraryImport(Util)] public static partial void av_log_set_callback(delegate* unmanaged[Cdecl]<void*, int, byte*, void*, void> callback);
    [LibraryImport(Util)] public static partial int av_log_format_line2(void* context, int level, byte* format, void* arguments, byte* line, int lineSize, int* printPrefix);
    [LibraryImport(Util)] public static partial int av_strerror(int error, byte* buffer, nuint size);
    [LibraryImport(Util)] public static partial void* av_frame_alloc();
    [LibraryImport(Util)] public static partial void av_frame_free(void** frame);
    [LibraryImport(Util)] public static partial void av_frame_unref(void* frame);
    [LibraryImport(Util, StringMarshalling = StringMarshalling.Utf8)] public static partial int av_opt_set(void* target, string name, string value, int searchFlags);
    [LibraryImport(Util, StringMarshalling = StringMarshalling.Utf8)] public static partial int av_dict_set(void** dictionary, string key, string value, int flags);
    [LibraryImport(Util)] public static partial void av_dict_free(void** dictionary);
    [LibraryImport(Util)] public static partial AVRational av_d2q(double value, int max);
    [LibraryImport(Util)] public static partial long av_rescale_q(long value, AVRational source, AVRational destination);

    [LibraryImport(Scale)] public static partial int swscale_version();
    [LibraryImport(Scale)] public static partial void* sws_getCachedContext(void* context, int sourceWidth, int sourceHeight, int sourceFormat, int width, int height, int format, int flags, void* sourceFilter, void* filter, double* parameters);
    [LibraryImport(Scale)] public static partial int sws_scale(void* context, byte** source, int* sourceStrides, int sliceY, int sliceHeight, byte** destination, int* destinationStrides);
    [LibraryImport(Scale)] public static partial void sws_freeContext(void* context);
}
