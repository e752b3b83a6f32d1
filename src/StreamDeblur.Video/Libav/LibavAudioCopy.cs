using Microsoft.Extensions.Logging;
using static StreamDeblur.Video.Libav.LibavNative;

namespace StreamDeblur.Video.Libav;

/// <summary>One audio track of an input and whether the output's container can hold it as it is.</summary>
public sealed record AudioTrack(int Index, string Codec, bool Fits);

/// <summary>
/// The audio tracks of an input, checked against an output's container, and how far the input's first video
/// frame lies after the start of the file (<paramref name="VideoStartAfterFileStartSeconds"/>), which an
/// ffmpeg child needs as <c>-itsoffset</c> to keep the copied audio in sync with piped video that starts at 0.
/// </summary>
public sealed record AudioPlan(IReadOnlyList<AudioTrack> Tracks, double VideoStartAfterFileStartSeconds);

/// <summary>
/// Copies the audio tracks of a file input into an output that libavformat is writing, packet by packet,
/// without re-encoding. Timestamps keep their distance to the input's first video frame, which is where the
/// output's video starts, so sound and picture stay in sync. Packets are fed just ahead of the video
/// (<see cref="WriteUntil"/>), so the muxer's interleaving buffer stays small, and the audio ends where the
/// video ends. A track the container cannot hold is named in one log line and left out.
/// </summary>
internal sealed unsafe class LibavAudioCopy : IDisposable
{
    private readonly string _path;
    private readonly void* _output;
    private readonly Dictionary<int, (int Output, AVRational InputTimeBase, long Offset)> _tracks = [];
    private void* _input;
    private void* _packet;
    private bool _inputEnded;

    private LibavAudioCopy(string path, void* output)
    {
        _path = path;
        _output = output;
    }

    /// <summary>The input's audio tracks, checked against the container of <paramref name="outputPath"/>; null when libav cannot tell.</summary>
    public static AudioPlan? Plan(string inputPath, string outputPath)
    {
        void* format = null;
        if (!IsSupported(out _) || avformat_alloc_output_context2(&format, null, null, outputPath) < 0)
        {
            return null;
        }

        try
        {
            using var copy = new LibavAudioCopy(inputPath, format);
            if (!copy.OpenInput())
            {
                return null;
            }

            long fileStart = Read<long>(copy._input, FormatContextStartTime);
            double offset = fileStart == NoTimestamp ? 0 : (copy.VideoStartMicroseconds() - fileStart) / 1e6;
            return new AudioPlan(copy.Tracks((void*)Read<nint>(format, FormatContextOutputFormat)), offset);
        }
        finally
        {
            avformat_free_context(format);
        }
    }

    /// <summary>
    /// Adds an output stream for each audio track of <paramref name="inputPath"/> that the container of
    /// <paramref name="outputContext"/> holds; call before the header is written. Null when there is none.
    /// </summary>
    public static LibavAudioCopy? Open(string inputPath, void* outputContext, string streamId, ILogger logger)
    {
        var copy = new LibavAudioCopy(inputPath, outputContext);
        try
        {
            if (!copy.OpenInput())
            {
                copy.Dispose();
                return null;
            }

            void* outputFormat = (void*)Read<nint>(outputContext, FormatContextOutputFormat);
            long videoStart = copy.VideoStartMicroseconds();
            foreach (AudioTrack track in copy.Tracks(outputFormat))
            {
                if (!track.Fits)
                {
                    LogLeftOut(logger, streamId, track);
                    continue;
                }

                void* source = Stream(copy._input, track.Index);
                void* target = avformat_new_stream(outputContext, null);
                void* parameters = (void*)Read<nint>(target, StreamCodecParameters);
                if (target is null || avcodec_parameters_copy(parameters, (void*)Read<nint>(source, StreamCodecParameters)) < 0)
                {
                    throw new SinkException($"stream {streamId}: cannot add the input's audio track {track.Index} to the output");
                }

                Write(parameters, CodecParametersTag, 0u); // the input container's tag means nothing in another one
                AVRational timeBase = Read<AVRational>(source, StreamTimeBase);
                Write(target, StreamTimeBase, timeBase);
                long offset = av_rescale_q(videoStart, new AVRational(1, 1_000_000), timeBase);
                copy._tracks[track.Index] = (Read<int>(target, StreamIndex), timeBase, offset);
                LogCopied(logger, streamId, track);
            }

            if (copy._tracks.Count == 0)
            {
                copy.Dispose();
                return null;
            }

            copy._packet = av_packet_alloc();
            return copy;
        }
        catch
        {
            copy.Dispose();
            throw;
        }
    }

    /// <summary>The one line that says a track is copied; the ffmpeg child's sink says it too.</summary>
    public static void LogCopied(ILogger logger, string streamId, AudioTrack track) =>
        logger.LogInformation("stream {Stream}: copying audio track {Index} ({Codec}) as it is", streamId, track.Index, track.Codec);

    /// <summary>The one line that says a track the container cannot hold is left out.</summary>
    public static void LogLeftOut(ILogger logger, string streamId, AudioTrack track) =>
        logger.LogWarning("stream {Stream}: audio track {Index} ({Codec}) cannot go into this output's container without re-encoding; it is left out (a .mkv holds any audio)",
            streamId, track.Index, track.Codec);

    /// <summary>Writes the audio packets that start before <paramref name="seconds"/> of output time.</summary>
    public void WriteUntil(double seconds)
    {
        while (!_inputEnded)
        {
            int read = av_read_frame(_input, _packet);
            if (read < 0)
            {
                _inputEnded = true; // the end, or damage: the audio stops there, the video goes on
                return;
            }

            int index = Read<int>(_packet, PacketStreamIndex);
            if (!_tracks.TryGetValue(index, out var track))
            {
                av_packet_unref(_packet);
                continue;
            }

            long pts = Read<long>(_packet, PacketPts);
            long dts = Read<long>(_packet, PacketDts);
            long stamp = dts != NoTimestamp ? dts : pts;
            if (stamp == NoTimestamp)
            {
                av_packet_unref(_packet);
                continue; // cannot be placed in time
            }

            Shift(PacketPts, pts, track.Offset);
            Shift(PacketDts, dts, track.Offset);
            Write(_packet, PacketStreamIndex, track.Output);
            Write(_packet, PacketPosition, -1L);
            void* stream = Stream(_output, track.Output);
            AVRational outputTimeBase = Read<AVRational>(stream, StreamTimeBase);
            av_packet_rescale_ts(_packet, track.InputTimeBase, outputTimeBase);
            double at = (stamp - track.Offset) * track.InputTimeBase.ToDouble();
            if (av_interleaved_write_frame(_output, _packet) < 0)
            {
                _inputEnded = true; // the muxer refused a packet: keep the video, stop the audio
                return;
            }

            if (at >= seconds)
            {
                return; // one packet past the video: the next call goes on from here
            }
        }
    }

    private void Shift(int field, long value, long offset)
    {
        if (value != NoTimestamp)
        {
            Write(_packet, field, value - offset);
        }
    }

    private bool OpenInput()
    {
        void* input = null;
        if (avformat_open_input(&input, _path, null, null) < 0)
        {
            return false;
        }

        _input = input;
        return avformat_find_stream_info(_input, null) >= 0;
    }

    private List<AudioTrack> Tracks(void* outputFormat)
    {
        var tracks = new List<AudioTrack>();
        int count = Read<int>(_input, FormatContextStreamCount);
        for (int i = 0; i < count; i++)
        {
            void* parameters = (void*)Read<nint>(Stream(_input, i), StreamCodecParameters);
            if (Read<int>(parameters, CodecParametersType) == MediaTypeAudio)
            {
                int codecId = Read<int>(parameters, CodecParametersCodecId);
                tracks.Add(new AudioTrack(i, CodecName(codecId), avformat_query_codec(outputFormat, codecId, 0) == 1));
            }
        }

        return tracks;
    }

    /// <summary>When the input's first video frame is shown, in microseconds (0 when it does not say).</summary>
    private long VideoStartMicroseconds()
    {
        int video = av_find_best_stream(_input, MediaTypeVideo, -1, -1, null, 0);
        if (video < 0)
        {
            return 0;
        }

        void* stream = Stream(_input, video);
        long start = Read<long>(stream, StreamStartTime);
        return start == NoTimestamp ? 0 : av_rescale_q(start, Read<AVRational>(stream, StreamTimeBase), new AVRational(1, 1_000_000));
    }

    public void Dispose()
    {
        void* packet = _packet;
        av_packet_free(&packet);
        _packet = null;
        void* input = _input;
        avformat_close_input(&input);
        _input = null;
    }
}
