using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace StreamDeblur.Video;

/// <summary>
/// The checks, the replay pacing and the read loop that the recorded-file sources share (OpenCV and libav;
/// the ffmpeg child source paces with it too).
/// </summary>
internal static class RecordedFile
{
    private const double FallbackFps = 25;

    /// <summary>Throws <see cref="SourceException"/> naming the file when it is missing or empty.</summary>
    public static void RequireNonEmpty(string path)
    {
        var file = new FileInfo(path);
        if (!file.Exists)
        {
            throw new SourceException($"input file not found: {path}");
        }

        if (file.Length == 0)
        {
            throw new SourceException($"input file is empty (0 bytes): {path}");
        }
    }

    /// <summary>Checks what the container reports and fills in a missing frame rate (with a warning).</summary>
    public static VideoInfo Describe(string streamId, string path, int width, int height, double fps, long frameCount, bool isLive, ILogger logger)
    {
        if (width <= 0 || height <= 0)
        {
            throw new SourceException($"input has no usable frame size ({width}x{height}): {path}");
        }

        if ((long)width * height > FileFrameSource.MaxFramePixels)
        {
            throw new SourceException($"input frames are {width}x{height}, above the {FileFrameSource.MaxFramePixels / 1_000_000}-megapixel limit: {path}");
        }

        if (!(fps > 0 && fps < 1000))
        {
            logger.LogWarning("stream {Stream}: the file reports {Fps} fps; assuming {Fallback}", streamId, fps, FallbackFps);
            fps = FallbackFps;
        }

        return new VideoInfo(width, height, fps, Math.Max(0, frameCount), isLive);
    }

    /// <summary>
    /// For a paced replay (<paramref name="paceFps"/> above 0, as `ffmpeg -re`), waits until frame
    /// <paramref name="sequence"/> is due. False when cancelled while waiting.
    /// </summary>
    public static bool WaitForPace(long sequence, double paceFps, long startedTimestamp, CancellationToken cancellationToken)
    {
        if (paceFps <= 0)
        {
            return true;
        }

        TimeSpan due = TimeSpan.FromSeconds(sequence / paceFps) - Stopwatch.GetElapsedTime(startedTimestamp);
        return due <= TimeSpan.Zero || !cancellationToken.WaitHandle.WaitOne(due);
    }

    /// <summary>
    /// Runs a source's read loop (<paramref name="readFrames"/>, which returns how many frames it wrote) on a
    /// thread of its own, since decoding blocks, and completes <paramref name="output"/>: cleanly at the end or on
    /// cancellation, with the error otherwise, and with a <see cref="SourceException"/> when the file gave no frame.
    /// </summary>
    public static Task ReadToEndAsync(string path, ChannelWriter<Frame> output, Func<Task<long>> readFrames, CancellationToken cancellationToken) =>
        // CancellationToken.None: even when cancelled before it starts, the loop must run to complete the channel.
        Task.Factory.StartNew(() => ReadAndCompleteAsync(path, output, readFrames, cancellationToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
            .Unwrap();

    private static async Task ReadAndCompleteAsync(string path, ChannelWriter<Frame> output, Func<Task<long>> readFrames, CancellationToken cancellationToken)
    {
        Exception? error = null;
        try
        {
            long frames = await readFrames().ConfigureAwait(false);
            if (frames == 0 && !cancellationToken.IsCancellationRequested)
            {
                error = new SourceException($"input has no decodable frame (corrupt video?): {path}");
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
            output.TryComplete(error);
        }
    }

    /// <summary>Hands a frame to the next stage, or disposes it if the hand-over fails.</summary>
    public static async ValueTask HandOverAsync(ChannelWriter<Frame> output, Frame frame, CancellationToken cancellationToken)
    {
        if (output.TryWrite(frame))
        {
            return;
        }

        try
        {
            await output.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            frame.Dispose();
            throw;
        }
    }
}
