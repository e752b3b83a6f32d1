using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace StreamDeblur.Video;

/// <summary>
/// Forwards a stream live to an RTSP or RTMP server: raw frames (I420, or BGR for odd sizes) are piped into an <c>ffmpeg</c> child
/// process that encodes H.264 (ultrafast, zerolatency) and publishes them. <see cref="Write"/> never waits:
/// frames go through a small bounded queue to a writer thread, and when the queue is full the frame is
/// dropped from the forward only (counted as streamdeblur_frames_dropped_total{reason="forward_queue_full"};
/// "forward_unavailable" while ffmpeg waits to restart, "forward_error" when the pipe broke on the frame).
/// If ffmpeg dies (the server went away), it is restarted with exponential backoff and jitter.
/// </summary>
public sealed class FfmpegForwardSink : IFrameSink
{
    public const int QueueCapacity = 4;

    private const int StderrLinesKept = 8;

    private readonly string _streamId;
    private readonly string _url;
    private readonly string _redactedUrl;
    private readonly int _width;
    private readonly int _height;
    private readonly double _fps;
    private readonly int _frameBytes;
    private readonly PixelLayout _layout;
    private readonly Mat _scratch = new();
    private readonly ILogger _logger;
    private readonly Channel<byte[]> _queue;
    private readonly Thread _writer;
    private readonly StderrTail _stderrTail = new(StderrLinesKept);
    private readonly CancellationTokenSource _stop = new();
    private Process? _process;
    private bool _completed;

    public FfmpegForwardSink(string streamId, string url, VideoInfo info, ILogger logger)
    {
        bool rtsp = url.StartsWith("rtsp://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("rtsps://", StringComparison.OrdinalIgnoreCase);
        bool rtmp = url.StartsWith("rtmp://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("rtmps://", StringComparison.OrdinalIgnoreCase);
        if (!(rtsp || rtmp) || !Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new SinkException($"stream {streamId}: forward target '{UrlRedactor.Redact(url)}' is not a valid rtsp:// or rtmp:// URL");
        }

        _streamId = streamId;
        _url = url;
        _redactedUrl = UrlRedactor.Redact(url);
        _width = info.Width;
        _height = info.Height;
        _fps = info.FramesPerSecond;
        _layout = Frame.PreferredPipeLayout(new Size(_width, _height));
        _frameBytes = Frame.ByteCount(_layout, new Size(_width, _height));
        _logger = logger;
        _queue = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = true,
        });
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = $"forward-{streamId}" };
        _writer.Start();
    }

    /// <summary>Frames handed to ffmpeg so far.</summary>
    public long FramesForwarded => Interlocked.Read(ref _framesForwarded);

    /// <summary>Times ffmpeg was (re)started.</summary>
    public int Starts => Volatile.Read(ref _starts);

    private long _framesForwarded;
    private int _starts;

    public void Write(Frame frame)
    {
        if (_completed)
        {
            return;
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(_frameBytes);
        CopyPixels(frame, buffer);
        if (!_queue.Writer.TryWrite(buffer))
        {
            ArrayPool<byte>.Shared.Return(buffer);
            PipelineMetrics.FramesDropped.WithLabels(_streamId, "forward_queue_full").Inc();
        }
    }

    private void CopyPixels(Frame frame, byte[] buffer)
    {
        // Deblurred (BGR) frames are converted; a live source that came back at another size is scaled to the first.
        Mat pixels = frame.PixelsAs(_layout, new Size(_width, _height), _scratch);
        System.Runtime.InteropServices.Marshal.Copy(pixels.Data, buffer, 0, _frameBytes);
    }

    private void WriteLoop()
    {
        int failures = 0;
        ChannelReader<byte[]> reader = _queue.Reader;
        Stream? stdin = null;
        try
        {
            while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                while (reader.TryRead(out byte[]? buffer))
                {
                    try
                    {
                        if (stdin is null && !_stop.IsCancellationRequested)
                        {
                            stdin = TryStart(ref failures);
                        }

                        if (stdin is null)
                        {
                            // ffmpeg is down and waiting to restart: this frame cannot be forwarded.
                            PipelineMetrics.FramesDropped.WithLabels(_streamId, "forward_unavailable").Inc();
                            continue;
                        }

                        stdin.Write(buffer, 0, _frameBytes);
                        Interlocked.Increment(ref _framesForwarded);
                        failures = 0;
                    }
                    catch (IOException)
                    {
                        _logger.LogWarning("stream {Stream}: forward to {Url} broke: {Error}", _streamId, _redactedUrl, LastError());
                        PipelineMetrics.Errors.WithLabels(_streamId, "forward").Inc();
                        PipelineMetrics.FramesDropped.WithLabels(_streamId, "forward_error").Inc();
                        StopProcess(graceful: false);
                        stdin = null;
                        failures++;
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                    }
                }
            }
        }
        finally
        {
            StopProcess(graceful: true);
        }
    }

    private DateTime _nextStartAllowed = DateTime.MinValue;

    /// <summary>Starts ffmpeg unless the backoff after the last failure has not passed yet.</summary>
    private Stream? TryStart(ref int failures)
    {
        if (DateTime.UtcNow < _nextStartAllowed)
        {
            return null;
        }

        if (failures > 0)
        {
            double ceiling = Math.Min(10, 0.5 * Math.Pow(2, Math.Min(failures - 1, 10)));
            _nextStartAllowed = DateTime.UtcNow.AddSeconds(0.5 + (Random.Shared.NextDouble() * (ceiling - 0.5)));
        }

        string rate = _fps.ToString("0.###", CultureInfo.InvariantCulture);
        int gop = Math.Max(1, (int)Math.Round(_fps * 2));
        var args = new List<string>
        {
            "-hide_banner", "-nostats", "-loglevel", "warning",
            "-f", "rawvideo", "-pix_fmt", Frame.FfmpegPixelFormat(_layout), "-s", $"{_width}x{_height}", "-r", rate, "-i", "pipe:0",
            "-an", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
            "-g", gop.ToString(CultureInfo.InvariantCulture),
        };
        args.AddRange(_url.StartsWith("rtsp", StringComparison.OrdinalIgnoreCase)
            ? ["-f", "rtsp", "-rtsp_transport", "tcp", _url]
            : ["-f", "flv", _url]);

        var process = new Process
        {
            StartInfo = new ProcessStartInfo("ffmpeg", args)
            {
                RedirectStandardInput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            },
        };
        FfmpegPipes.KeepFrameBuffersResident(process.StartInfo);
        process.ErrorDataReceived += (_, e) =>
        {
            if (!string.IsNullOrWhiteSpace(e.Data))
            {
                string line = UrlRedactor.Redact(e.Data);
                _stderrTail.Add(line);

                _logger.LogDebug("stream {Stream}: forward ffmpeg: {Line}", _streamId, line);
            }
        };

        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            process.Dispose();
            _logger.LogError("stream {Stream}: cannot run ffmpeg for the forward (is it installed?): {Error}", _streamId, ex.Message);
            failures++;
            return null;
        }

        process.BeginErrorReadLine();
        _process = process;
        Interlocked.Increment(ref _starts);
        _logger.LogInformation("stream {Stream}: forwarding {Width}x{Height} at {Fps} fps to {Url}", _streamId, _width, _height, rate, _redactedUrl);
        Stream stdin = process.StandardInput.BaseStream;
        FfmpegPipes.EnlargeBuffer(stdin);
        return stdin;
    }

    private void StopProcess(bool graceful)
    {
        Process? process = Interlocked.Exchange(ref _process, null);
        if (process is null)
        {
            return;
        }

        try
        {
            if (graceful)
            {
                // Closing stdin lets ffmpeg flush and close the connection properly.
                try
                {
                    process.StandardInput.Close();
                }
                catch (IOException)
                {
                }

                if (!process.WaitForExit(5000))
                {
                    process.Kill(entireProcessTree: true);
                }
            }
            else if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.WaitForExit(2000);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }
        finally
        {
            process.Dispose();
        }
    }

    private string LastError() => _stderrTail.Last();

    /// <summary>Forwards what is queued, then closes ffmpeg's input so that it finishes the stream.</summary>
    public void Complete()
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        _queue.Writer.TryComplete();
        if (!_writer.Join(TimeSpan.FromSeconds(10)))
        {
            _logger.LogWarning("stream {Stream}: the forward to {Url} did not finish within 10 s; killing ffmpeg", _streamId, _redactedUrl);
            _stop.Cancel();
            Process? process = Volatile.Read(ref _process);
            try
            {
                process?.Kill(entireProcessTree: true);
            }
            catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
            }

            _writer.Join(TimeSpan.FromSeconds(5));
        }
    }

    public void Dispose()
    {
        Complete();
        _stop.Dispose();
        _scratch.Dispose();
    }
}
