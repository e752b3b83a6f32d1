using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace StreamDeblur.Video;

/// <summary>The checks and the replay pacing that every recorded-file source shares (OpenCV and libav).</summary>
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
}
