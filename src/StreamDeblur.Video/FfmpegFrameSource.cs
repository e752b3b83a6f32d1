using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace StreamDeblur.Video;

/// <summary>
/// Decodes a network stream (rtsp://, rtmp://, http(s):// MJPEG or HLS, udp://, srt://) or a camera (index or
/// /dev/videoN) with Debian's <c>ffmpeg</c> as a child process that writes raw BGR frames to its stdout.
/// Live sources reconnect for ever, with exponential backoff and full jitter; a source that delivers no frame
/// for <see cref="ReconnectOptions.StallTimeoutSeconds"/> is killed and reconnected. Sequence numbers continue
/// across reconnects and timestamps are wall-clock time since the stream first came up.
/// A non-live URL (<c>"live": false</c>) is read once, to its end, and never drops or repeats a frame.
/// </summary>
public sealed class FfmpegFrameSource : IFrameSource
{
    private const double FallbackFps = 25;
    private const int StderrLinesKept = 12;

    private readonly string _streamId;
    private readonly string _input;
    private readonly string _redactedInput;
    private readonly bool _isLive;
    private readonly ReconnectOptions _reconnect;
    private readonly ILogger _logger;
    private readonly ISourceStateObserver _observer;
    private readonly object _processLock = new();
    private readonly StderrTail _stderrTail = new(StderrLinesKept);
    private Process? _process;
    private VideoInfo? _info;
    private SourceState? _state;
    private int _failedAttempts;
    private long _sequence;
    private long _firstFrameAt;
    private bool _disposed;
    private readonly double _paceFps;
    private readonly bool _isFile;

    /// <param name="paceFps">Replay a file at this rate (frames per second), as <c>ffmpeg -re</c>; 0 reads as fast as ffmpeg decodes.</param>
    public FfmpegFrameSource(string streamId, string input, bool isLive, ReconnectOptions reconnect, ILogger logger, ISourceStateObserver observer, double paceFps = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(paceFps);
        _paceFps = paceFps;
        _isFile = InputKind.Classify(input) == InputKindValue.File;
        _streamId = streamId;
        _input = input;
        _redactedInput = UrlRedactor.Redact(input);
        _isLive = isLive;
        _reconnect = reconnect;
        _logger = logger;
        _observer = observer;
    }

    public VideoInfo Info => _info ?? throw new InvalidOperationException("the source is not open");

    /// <summary>The state last reported.</summary>
    public SourceState? State => _state;

    /// <summary>
    /// Checks the input, then probes it until it answers. A live source that cannot be reached keeps retrying
    /// (state Reconnecting) until <paramref name="cancellationToken"/> is cancelled; a malformed input fails at once.
    /// </summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        ThrowIfMalformed();
        Transition(SourceState.Connecting, _redactedInput);
        try
        {
            _info = await ProbeUntilReachableAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            string detail = $"stopped before {_redactedInput} ever answered ({LastError()})";
            Transition(SourceState.Failed, detail);
            throw new SourceException($"stream {_streamId}: {detail}");
        }
        catch (SourceException ex)
        {
            Transition(SourceState.Failed, ex.Message);
            throw;
        }
    }

    public Task RunAsync(ChannelWriter<Frame> output, CancellationToken cancellationToken) =>
        Task.Factory.StartNew(() => ReadAll(output, cancellationToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void ReadAll(ChannelWriter<Frame> output, CancellationToken cancellationToken)
    {
        Exception? error = null;
        try
        {
            VideoInfo info = Info;
            while (!cancellationToken.IsCancellationRequested)
            {
                SessionEnd end = RunSession(info, output, cancellationToken);
                if (cancellationToken.IsCancellationRequested)
                {
                    break;
                }

                // A file ends, even one replayed as if live; only a network source or a camera reconnects.
                if (!_isLive || _isFile)
                {
                    if (end.ExitCode == 0)
                    {
                        break;
                    }

                    throw new SourceException($"stream {_streamId}: reading {_redactedInput} failed after {_sequence} frames: {end.Reason}");
                }

                // A live source never ends by itself: whatever stopped it, connect again.
                TimeSpan delay = BackoffDelay(_failedAttempts++);
                Transition(SourceState.Reconnecting, $"{end.Reason}; reconnecting in {delay.TotalSeconds:F1} s");
                PipelineMetrics.Reconnects.WithLabels(_streamId).Inc();
                Task.Delay(delay, cancellationToken).GetAwaiter().GetResult();
                info = ProbeUntilReachableAsync(cancellationToken).GetAwaiter().GetResult();
                if (info.Width != Info.Width || info.Height != Info.Height)
                {
                    _logger.LogWarning("stream {Stream}: the source came back at {Width}x{Height} (was {OldWidth}x{OldHeight})",
                        _streamId, info.Width, info.Height, Info.Width, Info.Height);
                }
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
            if (error is null)
            {
                Transition(SourceState.Ended, $"{_sequence} frames");
            }
            else
            {
                Transition(SourceState.Failed, UrlRedactor.Redact(error.Message));
            }

            output.TryComplete(error);
        }
    }

    private readonly record struct SessionEnd(int? ExitCode, string Reason);

    /// <summary>Runs one ffmpeg process until it exits, stalls or is cancelled; returns why it ended.</summary>
    private SessionEnd RunSession(VideoInfo info, ChannelWriter<Frame> output, CancellationToken cancellationToken)
    {
        var size = new Size(info.Width, info.Height);
        PixelLayout layout = Frame.PreferredPipeLayout(size);
        using Process process = StartProcess(FfmpegArguments(info, layout));
        Stream stdout = process.StandardOutput.BaseStream;
        FfmpegPipes.EnlargeBuffer(stdout);
        int frameBytes = Frame.ByteCount(layout, size);
        using var buffers = new FrameBufferPool(layout, size, maxRetained: 64);
        long sessionStart = Stopwatch.GetTimestamp();
        long lastProgress = sessionStart;
        bool writing = false;
        bool stalled = false;
        long framesThisSession = 0;

        // Stall watchdog. The live [decoded] queue drops its oldest frame when full, so writing to it never blocks
        // and a silent stdout is always the source's fault. Non-live sources write with backpressure; the time
        // spent blocked in WriteAsync is not counted (lastProgress is refreshed around it).
        using var watchdog = new Timer(_ =>
        {
            if (Volatile.Read(ref writing))
            {
                return;
            }

            double limit = Interlocked.Read(ref framesThisSession) == 0 ? _reconnect.OpenTimeoutSeconds : _reconnect.StallTimeoutSeconds;
            if (Stopwatch.GetElapsedTime(Interlocked.Read(ref lastProgress)).TotalSeconds > limit)
            {
                Volatile.Write(ref stalled, true);
                KillProcess();
            }
        }, null, TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(200));
        using CancellationTokenRegistration onCancel = cancellationToken.Register(KillProcess);

        while (!cancellationToken.IsCancellationRequested)
        {
            if (_paceFps > 0)
            {
                // A chosen wait, not a silent source: keep the stall watchdog out of it.
                Volatile.Write(ref writing, true);
                RecordedFile.WaitForPace(framesThisSession, _paceFps, sessionStart, cancellationToken);
                Interlocked.Exchange(ref lastProgress, Stopwatch.GetTimestamp());
                Volatile.Write(ref writing, false);
            }

            Mat image = buffers.Rent();
            int read;
            try
            {
                read = ReadFrame(stdout, image, frameBytes);
            }
            catch (IOException)
            {
                read = 0;
            }

            if (read < frameBytes)
            {
                buffers.Return(image);
                break;
            }

            if (_firstFrameAt == 0)
            {
                _firstFrameAt = Stopwatch.GetTimestamp();
            }

            // Live: wall-clock time since the first frame. Recorded input: the frame's place in the file.
            TimeSpan timestamp = _isLive ? Stopwatch.GetElapsedTime(_firstFrameAt) : TimeSpan.FromSeconds(_sequence / info.FramesPerSecond);
            var frame = new Frame(_streamId, _sequence, timestamp, image, layout, buffers);
            _sequence++;
            Interlocked.Increment(ref framesThisSession);
            Interlocked.Exchange(ref lastProgress, Stopwatch.GetTimestamp());
            PipelineMetrics.FramesRead.WithLabels(_streamId).Inc();
            if (_state != SourceState.Up)
            {
                _failedAttempts = 0;
                Transition(SourceState.Up, $"{info.Width}x{info.Height} at {info.FramesPerSecond:F2} fps");
            }

            if (!output.TryWrite(frame))
            {
                Volatile.Write(ref writing, true);
                try
                {
                    output.WriteAsync(frame, cancellationToken).AsTask().GetAwaiter().GetResult();
                }
                catch
                {
                    frame.Dispose();
                    throw;
                }
                finally
                {
                    Interlocked.Exchange(ref lastProgress, Stopwatch.GetTimestamp());
                    Volatile.Write(ref writing, false);
                }
            }
        }

        KillProcess();
        process.WaitForExit(2000);
        int? exitCode = process.HasExited ? process.ExitCode : null;
        lock (_processLock)
        {
            _process = null;
        }

        if (Volatile.Read(ref stalled))
        {
            double silent = Stopwatch.GetElapsedTime(Interlocked.Read(ref lastProgress)).TotalSeconds;
            string reason = framesThisSession == 0
                ? $"no frame within open_timeout_seconds ({_reconnect.OpenTimeoutSeconds:0.##} s)"
                : $"no frame for {silent:F1} s (stall_timeout_seconds {_reconnect.StallTimeoutSeconds:0.##})";
            Transition(SourceState.Stalled, reason);
            return new SessionEnd(null, reason);
        }

        string ended = exitCode == 0 ? "the stream ended" : $"ffmpeg exited with code {exitCode?.ToString(CultureInfo.InvariantCulture) ?? "?"}";
        return new SessionEnd(exitCode, $"{ended} after {framesThisSession} frames; {LastError()}");
    }

    private static unsafe int ReadFrame(Stream stdout, Mat image, int frameBytes)
    {
        var pixels = new Span<byte>((void*)image.Data, frameBytes);
        return stdout.ReadAtLeast(pixels, frameBytes, throwOnEndOfStream: false);
    }

    /// <summary>Probes until the source answers; between failures, waits with exponential backoff and full jitter.</summary>
    private async Task<VideoInfo> ProbeUntilReachableAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                return await ProbeAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (SourceException ex) when (_isLive)
            {
                RememberError(ex.Message);
                TimeSpan delay = BackoffDelay(_failedAttempts++);
                Transition(SourceState.Reconnecting, $"{ex.Message}; retrying in {delay.TotalSeconds:F1} s");
                PipelineMetrics.Reconnects.WithLabels(_streamId).Inc();
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Uniform in [initial, min(max, initial × 2^attempt)] ("full jitter" above the initial delay).</summary>
    public static TimeSpan BackoffDelay(int attempt, double initialSeconds, double maxSeconds, Random random)
    {
        double ceiling = Math.Min(maxSeconds, initialSeconds * Math.Pow(2, Math.Min(attempt, 30)));
        return TimeSpan.FromSeconds(initialSeconds + (random.NextDouble() * (ceiling - initialSeconds)));
    }

    private TimeSpan BackoffDelay(int attempt) =>
        BackoffDelay(attempt, _reconnect.InitialDelaySeconds, _reconnect.MaxDelaySeconds, Random.Shared);

    /// <summary>Reads width, height and frame rate with ffprobe (JSON), within open_timeout_seconds.</summary>
    private async Task<VideoInfo> ProbeAsync(CancellationToken cancellationToken)
    {
        // A short analysis (1 s) is enough for the size and rate, and keeps (re)connecting fast.
        var args = new List<string> { "-v", "error", "-hide_banner", "-analyzeduration", "1000000", "-probesize", "500000" };
        args.AddRange(InputArguments());
        args.AddRange(["-select_streams", "v:0", "-show_entries", "stream=width,height,avg_frame_rate,r_frame_rate", "-of", "json", FfmpegInput()]);
        var psi = new ProcessStartInfo("ffprobe", args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(_reconnect.OpenTimeoutSeconds));
        Process probe;
        try
        {
            probe = Process.Start(psi) ?? throw new SourceException("cannot start ffprobe");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new SourceException($"stream {_streamId}: cannot run ffprobe (is ffmpeg installed?): {ex.Message}");
        }

        using (probe)
        {
            Task<string> stdout = probe.StandardOutput.ReadToEndAsync(CancellationToken.None);
            Task<string> stderr = probe.StandardError.ReadToEndAsync(CancellationToken.None);
            try
            {
                await probe.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                TryKill(probe);
                cancellationToken.ThrowIfCancellationRequested();
                throw new SourceException($"{_redactedInput} did not answer within open_timeout_seconds ({_reconnect.OpenTimeoutSeconds:0.##} s)");
            }

            string json = await stdout.ConfigureAwait(false);
            string errors = UrlRedactor.Redact((await stderr.ConfigureAwait(false)).Trim());
            if (probe.ExitCode != 0)
            {
                throw new SourceException($"{_redactedInput}: {LastLine(errors, "ffprobe failed")}");
            }

            return ParseProbe(json) ?? throw new SourceException($"{_redactedInput} has no video stream with a known size");
        }
    }

    private VideoInfo? ParseProbe(string json)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        if (!doc.RootElement.TryGetProperty("streams", out JsonElement streams) || streams.GetArrayLength() == 0)
        {
            return null;
        }

        JsonElement stream = streams[0];
        int width = stream.TryGetProperty("width", out JsonElement w) ? w.GetInt32() : 0;
        int height = stream.TryGetProperty("height", out JsonElement h) ? h.GetInt32() : 0;
        if (width <= 0 || height <= 0)
        {
            return null;
        }

        if ((long)width * height > FileFrameSource.MaxFramePixels)
        {
            throw new SourceException($"stream {_streamId}: frames are {width}x{height}, above the {FileFrameSource.MaxFramePixels / 1_000_000}-megapixel limit");
        }

        double fps = ParseRate(stream, "avg_frame_rate");
        if (!(fps is > 0 and <= 240))
        {
            fps = ParseRate(stream, "r_frame_rate");
        }

        if (!(fps is > 0 and <= 240))
        {
            _logger.LogWarning("stream {Stream}: the source reports no usable frame rate; assuming {Fps}", _streamId, FallbackFps);
            fps = FallbackFps;
        }

        return new VideoInfo(width, height, fps, 0, _isLive);
    }

    private static double ParseRate(JsonElement stream, string name)
    {
        if (!stream.TryGetProperty(name, out JsonElement value) || value.GetString() is not { } text)
        {
            return 0;
        }

        string[] parts = text.Split('/');
        return parts.Length == 2
            && double.TryParse(parts[0], CultureInfo.InvariantCulture, out double num)
            && double.TryParse(parts[1], CultureInfo.InvariantCulture, out double den) && den > 0
            ? num / den
            : 0;
    }

    private List<string> FfmpegArguments(VideoInfo info, PixelLayout layout)
    {
        var args = new List<string> { "-hide_banner", "-nostdin", "-loglevel", "warning" };
        if (_isLive && !_isFile)
        {
            // The size is already known from ffprobe: analyse briefly and buffer nothing, for low latency.
            // Not for files replayed as live: there low_delay dropped 27 of 150 B-frame-reordered frames.
            // A live RTSP camera with B-frames decodes the same with or without it (FfmpegFrameSourceTests).
            args.AddRange(["-fflags", "nobuffer", "-flags", "low_delay", "-analyzeduration", "500000", "-probesize", "500000"]);
        }

        args.AddRange(InputArguments());
        args.AddRange(["-i", FfmpegInput(), "-map", "0:v:0", "-an", "-sn", "-dn"]);

        // Fix the output size to the probed one, so that every chunk on stdout is exactly one frame even if
        // the source changes resolution mid-session.
        // I420 (yuv420p) is what decoders produce, so ffmpeg converts nothing and the pipe carries half the bytes of BGR.
        args.AddRange(["-vf", $"scale={info.Width}:{info.Height}", "-f", "rawvideo", "-pix_fmt", Frame.FfmpegPixelFormat(layout), "pipe:1"]);
        return args;
    }

    /// <summary>Per-protocol input options: TCP for RTSP, I/O timeouts for network inputs, v4l2 for cameras.</summary>
    private IEnumerable<string> InputArguments()
    {
        string timeoutMicroseconds = ((long)(_reconnect.OpenTimeoutSeconds * 1_000_000)).ToString(CultureInfo.InvariantCulture);
        if (InputKind.Classify(_input) == InputKindValue.Camera)
        {
            return ["-f", "v4l2"];
        }

        int schemeEnd = _input.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
        {
            return []; // a file path
        }

        string scheme = _input[..schemeEnd].ToLowerInvariant();
        return scheme switch
        {
            "rtsp" or "rtsps" => ["-rtsp_transport", "tcp", "-timeout", timeoutMicroseconds],
            "http" or "https" or "rtmp" or "tcp" => ["-rw_timeout", timeoutMicroseconds],
            _ => [],
        };
    }

    private string FfmpegInput() =>
        InputKind.Classify(_input) == InputKindValue.Camera && int.TryParse(_input, NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            ? $"/dev/video{index}"
            : _input;

    private void ThrowIfMalformed()
    {
        InputKindValue kind = InputKind.Classify(_input);
        if (kind == InputKindValue.Camera)
        {
            return;
        }

        if (kind == InputKindValue.File)
        {
            if (!File.Exists(_input))
            {
                Transition(SourceState.Failed, "input file not found");
                throw new SourceException($"input file not found: {_input}");
            }

            return;
        }

        if (kind != InputKindValue.Network
            || !Uri.TryCreate(_input, UriKind.Absolute, out Uri? uri)
            || string.IsNullOrEmpty(uri.Host)
            || _input.Any(char.IsWhiteSpace))
        {
            string problem = $"stream {_streamId}: malformed input URL '{_redactedInput}'";
            Transition(SourceState.Failed, problem);
            throw new SourceException(problem);
        }
    }

    private Process StartProcess(List<string> args)
    {
        var psi = new ProcessStartInfo("ffmpeg", args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        FfmpegPipes.KeepFrameBuffersResident(psi);
        var process = new Process { StartInfo = psi };
        process.ErrorDataReceived += (_, e) =>
        {
            // MJPEG sources make swscale warn on every frame ("deprecated pixel format"): noise, not an error.
            if (!string.IsNullOrWhiteSpace(e.Data) && !e.Data.Contains("deprecated pixel format", StringComparison.Ordinal))
            {
                string line = UrlRedactor.Redact(e.Data);
                RememberError(line);
                _logger.LogDebug("stream {Stream}: ffmpeg: {Line}", _streamId, line);
            }
        };

        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            process.Dispose();
            throw new SourceException($"stream {_streamId}: cannot run ffmpeg (is it installed?): {ex.Message}");
        }

        process.BeginErrorReadLine();
        lock (_processLock)
        {
            _process = process;
            if (_disposed)
            {
                TryKill(process);
            }
        }

        return process;
    }

    private void KillProcess()
    {
        lock (_processLock)
        {
            if (_process is { } process)
            {
                TryKill(process);
            }
        }
    }

    private static void TryKill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }

    private void RememberError(string line) => _stderrTail.Add(line);

    private string LastError() => _stderrTail.Last();

    private static string LastLine(string text, string fallback) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? fallback;

    private void Transition(SourceState state, string? detail)
    {
        if (_state == state && state is not SourceState.Reconnecting)
        {
            return;
        }

        _state = state;
        detail = UrlRedactor.Redact(detail);
        LogLevel level = state switch
        {
            SourceState.Up or SourceState.Connecting or SourceState.Ended => LogLevel.Information,
            SourceState.Failed => LogLevel.Error,
            _ => LogLevel.Warning,
        };
        _logger.Log(level, "stream {Stream}: source {State}: {Detail}", _streamId, state.ToString().ToLowerInvariant(), detail);
        _observer.OnStateChanged(_streamId, state, detail);
    }

    public ValueTask DisposeAsync()
    {
        lock (_processLock)
        {
            _disposed = true;
        }

        KillProcess();
        return ValueTask.CompletedTask;
    }
}
