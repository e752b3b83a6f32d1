using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using OpenCvSharp;

namespace StreamDeblur.App;

/// <summary>
/// Latest-frame MJPEG previews. Each stream's sink encodes a JPEG at most a few times a second, only
/// while someone watches; viewers get multipart/x-mixed-replace, which browsers show as live video.
/// </summary>
public sealed class PreviewHub
{
    private readonly ConcurrentDictionary<string, PreviewSink> _sinks = new(StringComparer.Ordinal);

    public PreviewSink SinkFor(string streamId) => _sinks.GetOrAdd(streamId, id => new PreviewSink(id));

    public async Task ServeAsync(string streamId, HttpContext context)
    {
        if (!_sinks.TryGetValue(streamId, out PreviewSink? sink))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            await context.Response.WriteAsync($"no stream '{streamId}'\n").ConfigureAwait(false);
            return;
        }

        const string boundary = "streamdeblurframe";
        context.Response.ContentType = $"multipart/x-mixed-replace; boundary={boundary}";
        context.Response.Headers.CacheControl = "no-cache";
        CancellationToken stop = context.RequestAborted;
        Interlocked.Increment(ref sink.Viewers);
        try
        {
            long lastVersion = -1;
            while (!stop.IsCancellationRequested)
            {
                (byte[]? jpeg, long version) = sink.Latest;
                if (jpeg is not null && version != lastVersion)
                {
                    lastVersion = version;
                    await context.Response.WriteAsync($"--{boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {jpeg.Length}\r\n\r\n", stop).ConfigureAwait(false);
                    await context.Response.Body.WriteAsync(jpeg, stop).ConfigureAwait(false);
                    await context.Response.WriteAsync("\r\n", stop).ConfigureAwait(false);
                    await context.Response.Body.FlushAsync(stop).ConfigureAwait(false);
                }

                if (sink.Ended && version == lastVersion)
                {
                    break;
                }

                await Task.Delay(40, stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            Interlocked.Decrement(ref sink.Viewers);
        }
    }
}

/// <summary>Keeps the latest frame of one stream as JPEG for preview viewers.</summary>
public sealed class PreviewSink(string streamId) : IFrameSink
{
    private static readonly int[] s_jpegParams = [(int)ImwriteFlags.JpegQuality, 75];
    private readonly TimeSpan _interval = TimeSpan.FromMilliseconds(100);
    private DateTime _lastEncoded = DateTime.MinValue;
    private (byte[]? Jpeg, long Version) _latest;

    public int Viewers;

    public string StreamId => streamId;

    public (byte[]? Jpeg, long Version) Latest => Volatile.Read(ref _latest.Jpeg) is { } jpeg ? (jpeg, Interlocked.Read(ref _latest.Version)) : (null, -1);

    public bool Ended { get; private set; }

    public void Write(Frame frame)
    {
        // Encode only while someone watches (or once, so the first viewer sees a picture at once).
        if ((Volatile.Read(ref Viewers) == 0 && _latest.Jpeg is not null) || DateTime.UtcNow - _lastEncoded < _interval)
        {
            return;
        }

        _lastEncoded = DateTime.UtcNow;
        // The frame belongs to the encoder: an I420 frame is converted into a copy, never in place.
        using var scratch = new Mat();
        Cv2.ImEncode(".jpg", frame.PixelsAs(PixelLayout.Bgr24, frame.Size, scratch), out byte[] jpeg, s_jpegParams);

        Volatile.Write(ref _latest.Jpeg, jpeg);
        Interlocked.Increment(ref _latest.Version);
    }

    public void Complete() => Ended = true;

    public void Dispose() => Ended = true;
}
