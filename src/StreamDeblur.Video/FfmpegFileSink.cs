using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace StreamDeblur.Video;

/// <summary>
/// Encodes frames to a file through an <c>ffmpeg</c> child process fed with raw frames (I420, or BGR for odd sizes) on its stdin.
/// The child outlives a killed worker: when the worker dies, even by SIGKILL, the pipe closes, ffmpeg reads
/// end-of-file, encodes what it received and finalises the file. So a killed run still leaves a playable
/// file, under its partial name, with every frame that was written to the pipe. Writes block (no frame is
/// dropped), like the OpenCV sink. The input's audio is copied in by the same child, from the input file.
/// </summary>
public sealed class FfmpegFileSink : IFileSink
{
    private readonly string _streamId;
    private readonly OutputFile _output;
    private readonly string _path;
    private readonly double _fps;
    private readonly EncoderSettings _settings;
    private readonly string? _audioFrom;
    private readonly ILogger _logger;
    private readonly StderrTail _stderrTail = new(8);
    private Process? _process;
    private Stream? _stdin;
    private Task? _stderrPump;
    private Size _frameSize;
    private Size _size;
    private readonly Mat _scratch = new();
    private readonly Mat _padded = new();
    private PixelLayout _layout;
    private bool _started;

    /// <param name="audioFrom">A file whose audio tracks are copied into the output (the stream's input), or null.</param>
    public FfmpegFileSink(string streamId, string path, double fps, EncoderSettings settings, string? audioFrom, ILogger logger)
    {
        _streamId = streamId;
        _output = new OutputFile(path);
        _path = _output.PartialPath;
        _fps = fps;
        _settings = settings;
        _audioFrom = audioFrom;
        _logger = logger;
    }

    public IReadOnlyList<string> Files => _started ? [_output.CurrentPath] : [];

    public void Publish() => _output.Publish();

    /// <summary>
    /// Container options that keep a killed child's file readable: MP4 is written fragmented (a fragment a
    /// second; a plain MP4 is unreadable without the index written at the end), Matroska closes a cluster a
    /// second. The libav sink sets the same.
    /// </summary>
    public static IReadOnlyList<string> ContainerArguments(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".mp4" or ".mov" or ".m4v" => ["-movflags", "+delay_moov+default_base_moof", "-frag_duration", "1000000"],
        ".mkv" or ".webm" => ["-cluster_time_limit", "1000"],
        _ => [],
    };

    /// <summary>The second input and the maps that copy the input's audio tracks as they are, ending with the video.</summary>
    private List<string> AudioArguments()
    {
        if (_audioFrom is null)
        {
            return ["-map", "0:v:0"];
        }

        Libav.AudioPlan? plan = Libav.LibavAudioCopy.Plan(_audioFrom, _path);
        var args = new List<string>();
        if (plan is not null)
        {
            if (!plan.Tracks.Any(t => t.Fits))
            {
                WarnUnfit(plan);
                return ["-map", "0:v:0"];
            }

            args.AddRange(["-itsoffset", (-plan.VideoStartAfterFileStartSeconds).ToString("0.######", CultureInfo.InvariantCulture)]);
        }

        args.AddRange(["-i", _audioFrom, "-map", "0:v:0"]);
        if (plan is null)
        {
            args.AddRange(["-map", "1:a?"]); // libav cannot check the container here: let ffmpeg try
        }
        else
        {
            WarnUnfit(plan);
            foreach (Libav.AudioTrack track in plan.Tracks.Where(t => t.Fits))
            {
                args.AddRange(["-map", $"1:{track.Index}"]);
                Libav.LibavAudioCopy.LogCopied(_logger, _streamId, track);
            }
        }

        args.AddRange(["-c:a", "copy", "-shortest"]); // the audio ends where the video ends
        return args;
    }

    private void WarnUnfit(Libav.AudioPlan plan)
    {
        foreach (Libav.AudioTrack track in plan.Tracks.Where(t => !t.Fits))
        {
            Libav.LibavAudioCopy.LogLeftOut(_logger, _streamId, track);
        }
    }

    public long FramesWritten { get; private set; }

    public void Write(Frame frame)
    {
        if (_process is null)
        {
            Start(frame.Size);
        }

        if (_size == _frameSize)
        {
            // An I420 frame that was not deblurred goes to the pipe as it is; others are converted into scratch.
            WriteRaw(frame.PixelsAs(_layout, _size, _scratch));
        }
        else
        {
            // Odd frame size: the pipe carries BGR, padded to even sides.
            WriteRaw(VideoFileSink.PadToEncodedSize(frame, _frameSize, _scratch, _padded));
        }

        FramesWritten++;
    }

    private unsafe void WriteRaw(Mat image)
    {
        try
        {
            _stdin!.Write(new ReadOnlySpan<byte>((void*)image.Data, Frame.ByteCount(_layout, _size)));
        }
        catch (IOException ex)
        {
            // ffmpeg has gone (it refused the output, or the disk is full): say why, in its own words.
            _process!.WaitForExit(TimeSpan.FromSeconds(5));
            _stderrPump?.Wait(TimeSpan.FromSeconds(2));
            throw new SinkException($"stream {_streamId}: ffmpeg stopped writing output {_output.FinalPath}: {_stderrTail.Joined()}", ex);
        }
    }

    private void Start(Size frameSize)
    {
        OutputFolder.Create(_streamId, _path);

        _frameSize = frameSize;
        _size = VideoFileSink.EncodedSize(frameSize);
        _layout = _size == frameSize ? Frame.PreferredPipeLayout(_size) : PixelLayout.Bgr24;
        var psi = new ProcessStartInfo("ffmpeg")
        {
            RedirectStandardInput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        FfmpegPipes.KeepFrameBuffersResident(psi);
        foreach (string arg in new[]
        {
            "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", Frame.FfmpegPixelFormat(_layout), "-s", $"{_size.Width}x{_size.Height}",
            "-r", _fps.ToString("0.###", CultureInfo.InvariantCulture), "-i", "pipe:0",
        }.Concat(AudioArguments()).Concat(_settings.FfmpegArguments).Concat(["-fflags", "+bitexact"]).Concat(ContainerArguments(_path)).Append(_path))
        {
            psi.ArgumentList.Add(arg);
        }

        try
        {
            _process = Process.Start(psi) ?? throw new SinkException("ffmpeg did not start");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new SinkException($"stream {_streamId}: cannot start ffmpeg for {_path} (install Debian's ffmpeg): {ex.Message}", ex);
        }

        _started = true;
        _stdin = _process.StandardInput.BaseStream;
        FfmpegPipes.EnlargeBuffer(_stdin);
        _stderrPump = Task.Run(async () =>
        {
            while (await _process.StandardError.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                _stderrTail.Add(line);
            }
        });
    }

    public void Complete()
    {
        if (_process is null)
        {
            return;
        }

        try
        {
            _stdin?.Dispose(); // end of input: ffmpeg finishes the file
        }
        catch (IOException)
        {
        }

        if (!_process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            _logger.LogError("stream {Stream}: ffmpeg did not finish {Path} in 30 s; killing it", _streamId, _path);
            _process.Kill(entireProcessTree: true);
        }

        _stderrPump?.Wait(TimeSpan.FromSeconds(5));
        if (_process.ExitCode != 0)
        {
            _logger.LogError("stream {Stream}: ffmpeg exited with {Code} writing {Path}: {Tail}", _streamId, _process.ExitCode, _output.FinalPath, _stderrTail.Joined());
        }

        _process.Dispose();
        _process = null;
    }

    public void Dispose()
    {
        Complete();
        _scratch.Dispose();
        _padded.Dispose();
    }
}
