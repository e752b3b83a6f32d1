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

/// <summary>How a frame's pixels are laid out in its <see cref="Frame.Image"/>.</summary>
public enum PixelLayout
{
    /// <summary>8UC3, B G R interleaved: what OpenCV decodes and what the network packs from.</summary>
    Bgr24,
    /// <summary>
    /// 8UC1 with height × 3/2 rows: the Y plane, then the U and V planes at quarter size (ffmpeg's yuv420p).
    /// What ffmpeg decodes to and encodes from, so frames that are not deblurred cross the pipeline without
    /// a colour conversion at either end and at half the bytes of BGR. Width and height are even.
    /// </summary>
    I420,
}

/// <summary>
/// One decoded video frame (BGR or I420, 8 bits per sample) and what the pipeline learnt about it.
/// Exactly one stage owns a frame at a time; writing it to a channel hands it over.
/// The owner at the end of the line (the encoder, or whoever drops it) disposes it.
/// </summary>
public sealed class Frame : IDisposable
{
    public Frame(string streamId, long sequence, TimeSpan timestamp, Mat image, PixelLayout layout = PixelLayout.Bgr24)
        : this(streamId, sequence, timestamp, image, layout, pool: null)
    {
    }

    /// <summary>A frame whose image was rented from <paramref name="pool"/>; disposing the frame returns it.</summary>
    public Frame(string streamId, long sequence, TimeSpan timestamp, Mat image, PixelLayout layout, FrameBufferPool? pool)
    {
        ArgumentNullException.ThrowIfNull(streamId);
        ArgumentNullException.ThrowIfNull(image);
        bool valid = layout == PixelLayout.Bgr24
            ? image.Type() == MatType.CV_8UC3
            : image.Type() == MatType.CV_8UC1 && image.Rows % 3 == 0 && image.Width % 2 == 0 && image.Rows / 3 % 2 == 0;
        if (!valid)
        {
            throw new ArgumentException($"a {image.Width}x{image.Rows} {image.Type()} image is not a valid {layout} frame", nameof(image));
        }

        StreamId = streamId;
        Sequence = sequence;
        Timestamp = timestamp;
        Image = image;
        Layout = layout;
        _pool = pool;
        CapturedAt = Stopwatch.GetTimestamp();
    }

    private FrameBufferPool? _pool;

    /// <summary>The id of the stream the frame came from.</summary>
    public string StreamId { get; }

    /// <summary>0-based index of the frame in its stream, assigned by the source; gaps mean drops.</summary>
    public long Sequence { get; }

    /// <summary>Presentation timestamp relative to the start of the stream.</summary>
    public TimeSpan Timestamp { get; }

    /// <summary><see cref="Stopwatch"/> timestamp taken when the source produced the frame.</summary>
    public long CapturedAt { get; }

    /// <summary>The pixels, laid out as <see cref="Layout"/> says. Owned by this frame.</summary>
    public Mat Image { get; private set; }

    public PixelLayout Layout { get; private set; }

    public int Width => Image.Width;

    public int Height => Layout == PixelLayout.I420 ? Image.Rows / 3 * 2 : Image.Rows;

    public Size Size => new(Width, Height);

    public BlurMeasurement Blur { get; set; }

    public FrameRoute Route { get; set; }

    /// <summary>Seconds spent scoring the frame.</summary>
    public double EstimateSeconds { get; set; }

    /// <summary>Seconds of network time attributed to this frame (its batch's time divided by batch size).</summary>
    public double DeblurSeconds { get; set; }

    /// <summary>Size of the batch the frame was deblurred in (0 when not deblurred).</summary>
    public int BatchSize { get; set; }

    /// <summary>
    /// Fixed-camera mode's record for this frame: what the reference keeper found, the alignment's quality.
    /// Null on streams that do not use the mode, whose report lines then carry none of its fields.
    /// </summary>
    public FixedCameraInfo? FixedCamera { get; set; }

    /// <summary>
    /// The aligned copy of the stream's sharp reference that goes with this blurry frame to the two-frame
    /// network (BGR, the frame's size). The frame owns it: the deblur stage releases it once used, and disposing
    /// the frame disposes it.
    /// </summary>
    public Mat? Reference { get; private set; }

    /// <summary>True once the two-frame network deblurred this frame with its reference.</summary>
    public bool ReferenceUsed { get; set; }

    /// <summary>The blur score after deblurring, on the same scale as <see cref="BlurMeasurement.Sharpness"/> (NaN when not measured).</summary>
    public double SharpnessAfter { get; set; } = double.NaN;

    /// <summary>Hands an aligned reference to the frame, which owns it from now on.</summary>
    public void AttachReference(Mat aligned)
    {
        ArgumentNullException.ThrowIfNull(aligned);
        if (aligned.Size() != Size || aligned.Type() != MatType.CV_8UC3)
        {
            throw new ArgumentException($"a reference must be BGR at the frame's size {Width}x{Height}, not {aligned.Width}x{aligned.Height} {aligned.Type()}", nameof(aligned));
        }

        ReleaseReference();
        Reference = aligned;
    }

    /// <summary>
    /// Verified fusion's result for this frame (fixed-camera mode): where the frame was proved to show the reference
    /// through one blur, the frame plus the detail the blur took away. The deblur stage blends it into the network's
    /// output. The frame owns it, and releases it with the reference.
    /// </summary>
    public VerifiedReference? Verified { get; private set; }

    /// <summary>Hands verified fusion's result to the frame, which owns it from now on.</summary>
    public void AttachVerified(VerifiedReference verified)
    {
        ArgumentNullException.ThrowIfNull(verified);
        if (verified.Restored.Size() != Size)
        {
            throw new ArgumentException($"a verified reference must be at the frame's size {Width}x{Height}, not {verified.Restored.Width}x{verified.Restored.Height}", nameof(verified));
        }

        Verified?.Dispose();
        Verified = verified;
    }

    /// <summary>Disposes the frame's reference and its verified fusion, if it has them.</summary>
    public void ReleaseReference()
    {
        Reference?.Dispose();
        Reference = null;
        Verified?.Dispose();
        Verified = null;
    }

    /// <summary>Seconds from capture to now.</summary>
    public double AgeSeconds => Stopwatch.GetElapsedTime(CapturedAt).TotalSeconds;

    /// <summary>
    /// Makes the frame BGR (converting in place if it holds I420) and returns its image. For stages that
    /// change pixels, such as the network; the owner calls it.
    /// </summary>
    public Mat ToBgr()
    {
        if (Layout == PixelLayout.I420)
        {
            var bgr = new Mat();
            Cv2.CvtColor(Image, bgr, ColorConversionCodes.YUV2BGR_I420);
            ReleaseImage();
            Image = bgr;
            Layout = PixelLayout.Bgr24;
        }

        return Image;
    }

    /// <summary>
    /// A new header on the luma plane for I420 frames, or on the BGR image: what the blur estimator reads.
    /// No pixels are copied; dispose the header.
    /// </summary>
#pragma warning disable OCVS004 // the header is the return value: the caller disposes it, as documented above
    public Mat AnalysisView() => Layout == PixelLayout.I420 ? Image.RowRange(0, Height) : new Mat(Image, new Rect(0, 0, Width, Height));
#pragma warning restore OCVS004

    /// <summary>
    /// Writes the frame's pixels into <paramref name="destination"/> in <paramref name="layout"/> at
    /// <paramref name="size"/>, converting and resizing as needed; the frame itself is not changed.
    /// The destination is (re)allocated if its shape is wrong.
    /// </summary>
    public void CopyTo(Mat destination, PixelLayout layout, Size size)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (layout == Layout && size == Size)
        {
            Image.CopyTo(destination);
            return;
        }

        using var bgrScratch = new Mat();
        using var resizeScratch = new Mat();
        Mat bgr = Image;
        if (Layout == PixelLayout.I420)
        {
            Cv2.CvtColor(Image, bgrScratch, ColorConversionCodes.YUV2BGR_I420);
            bgr = bgrScratch;
        }

        if (size != Size)
        {
            Cv2.Resize(bgr, resizeScratch, size);
            bgr = resizeScratch;
        }

        if (layout == PixelLayout.Bgr24)
        {
            bgr.CopyTo(destination);
        }
        else
        {
            Cv2.CvtColor(bgr, destination, ColorConversionCodes.BGR2YUV_I420);
        }
    }

    /// <summary>
    /// The frame's pixels as one continuous image in <paramref name="layout"/> at <paramref name="size"/>: the
    /// frame's own image when it already is that (an I420 frame that was not deblurred, on its way to ffmpeg),
    /// otherwise a conversion written into <paramref name="scratch"/>. The frame itself is not changed.
    /// </summary>
    public Mat PixelsAs(PixelLayout layout, Size size, Mat scratch)
    {
        if (layout == Layout && size == Size && Image.IsContinuous())
        {
            return Image;
        }

        CopyTo(scratch, layout, size);
        return scratch;
    }

    /// <summary>Bytes of one frame of <paramref name="size"/> in <paramref name="layout"/>.</summary>
    public static int ByteCount(PixelLayout layout, Size size) =>
        layout == PixelLayout.I420 ? checked(size.Width * size.Height * 3 / 2) : checked(size.Width * size.Height * 3);

    /// <summary>A continuous image of the shape that holds one frame of <paramref name="size"/> in <paramref name="layout"/>.</summary>
    public static Mat Allocate(PixelLayout layout, Size size) => layout == PixelLayout.I420
        ? new Mat(size.Height * 3 / 2, size.Width, MatType.CV_8UC1)
        : new Mat(size.Height, size.Width, MatType.CV_8UC3);

    /// <summary>The layout ffmpeg should exchange for a frame of this size: I420 needs even sides.</summary>
    public static PixelLayout PreferredPipeLayout(Size size) =>
        size.Width % 2 == 0 && size.Height % 2 == 0 ? PixelLayout.I420 : PixelLayout.Bgr24;

    /// <summary>ffmpeg's name for the layout (<c>-pix_fmt</c>).</summary>
    public static string FfmpegPixelFormat(PixelLayout layout) => layout == PixelLayout.I420 ? "yuv420p" : "bgr24";

    public void Dispose()
    {
        // Idempotent: a pooled buffer returned twice would end up owned by two frames.
        if (!_disposed)
        {
            _disposed = true;
            ReleaseReference();
            ReleaseImage();
        }
    }

    private bool _disposed;

    private void ReleaseImage()
    {
        if (_pool is { } pool)
        {
            _pool = null;
            pool.Return(Image);
        }
        else
        {
            Image.Dispose();
        }
    }

    public override string ToString() => $"{StreamId}#{Sequence} {Width}x{Height} @{Timestamp.TotalMilliseconds:F0}ms {Route}";
}
