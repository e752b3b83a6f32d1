using System.Diagnostics;
using OpenCvSharp;

namespace StreamDeblur;

/// <summary>How a frame travelled through the pipeline.</summary>
public enum FrameRoute
{
    /// <summary>Not routed yet.</summary>
    Pending,
    /// <summary>Sharp enough: passed through untouched.</summary>
    Sharp,
    /// <summary>Blurry: sent through the deblurring network.</summary>
    Deblurred,
    /// <summary>Blurry, but deblurring was skipped to keep a live stream within its latency budget.</summary>
    SkippedOverload,
    /// <summary>Blurry, but the network failed on it; passed through untouched.</summary>
    SkippedError,
}

/// <summary>What the blur estimator measured on one frame.</summary>
/// <param name="Sharpness">Variance of the Laplacian on downscaled luma (higher is sharper).</param>
/// <param name="MotionAngleDegrees">Direction of the strongest blur, 0..180 degrees (0 = horizontal).</param>
/// <param name="MotionCoherence">0 = isotropic (defocus or none), 1 = blur along a single direction.</param>
/// <param name="MotionExtentPixels">Estimated blur length in full-resolution pixels (0 when none was found).</param>
/// <param name="Baseline">The stream's adaptive sharpness baseline when the frame was judged.</param>
/// <param name="IsBlurry">The router's verdict, after hysteresis.</param>
public readonly record struct BlurMeasurement(
    double Sharpness,
    double MotionAngleDegrees,
    double MotionCoherence,
    double MotionExtentPixels,
    double Baseline,
    bool IsBlurry);

/// <summary>
/// One decoded video frame (BGR, 8 bits per channel) and what the pipeline learnt about it.
/// Exactly one stage owns a frame at a time; writing it to a channel hands it over.
/// The owner at the end of the line (the encoder, or whoever drops it) disposes it.
/// </summary>
public sealed class Frame : IDisposable
{
    public Frame(string streamId, long sequence, TimeSpan timestamp, Mat image)
    {
        ArgumentNullException.ThrowIfNull(streamId);
        ArgumentNullException.ThrowIfNull(image);
        StreamId = streamId;
        Sequence = sequence;
        Timestamp = timestamp;
        Image = image;
        CapturedAt = Stopwatch.GetTimestamp();
    }

    /// <summary>The id of the stream the frame came from.</summary>
    public string StreamId { get; }

    /// <summary>0-based index of the frame in its stream, assigned by the source; gaps mean drops.</summary>
    public long Sequence { get; }

    /// <summary>Presentation timestamp relative to the start of the stream.</summary>
    public TimeSpan Timestamp { get; }

    /// <summary><see cref="Stopwatch"/> timestamp taken when the source produced the frame.</summary>
    public long CapturedAt { get; }

    /// <summary>The pixels, BGR 8UC3. Owned by this frame.</summary>
    public Mat Image { get; }

    public int Width => Image.Width;

    public int Height => Image.Height;

    public BlurMeasurement Blur { get; set; }

    public FrameRoute Route { get; set; }

    /// <summary>Seconds spent scoring the frame.</summary>
    public double EstimateSeconds { get; set; }

    /// <summary>Seconds of network time attributed to this frame (its batch's time divided by batch size).</summary>
    public double DeblurSeconds { get; set; }

    /// <summary>Size of the batch the frame was deblurred in (0 when not deblurred).</summary>
    public int BatchSize { get; set; }

    /// <summary>Seconds from capture to now.</summary>
    public double AgeSeconds => Stopwatch.GetElapsedTime(CapturedAt).TotalSeconds;

    public void Dispose() => Image.Dispose();

    public override string ToString() => $"{StreamId}#{Sequence} {Width}x{Height} @{Timestamp.TotalMilliseconds:F0}ms {Route}";
}
