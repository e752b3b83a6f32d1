using OpenCvSharp;

namespace StreamDeblur.Video.FixedCamera;

/// <summary>How a reference was registered to a blurry frame, in full-resolution pixels.</summary>
/// <param name="Succeeded">True when the warp can be used: ECC converged, the shift and the linear part are plausible and the quality is high enough.</param>
/// <param name="Quality">ECC's correlation coefficient between the warped reference and the frame (-1..1; NaN when ECC failed).</param>
/// <param name="ShiftPixels">The length of the warp's shift at full resolution.</param>
/// <param name="Warp">The 2×3 warp at full resolution, in ECC's direction: frame pixel x shows reference pixel Warp·x.</param>
/// <param name="Failure">Why it did not succeed (null when it did).</param>
public sealed record Alignment(bool Succeeded, double Quality, double ShiftPixels, double[,] Warp, string? Failure)
{
    /// <summary>The view itself moved, more than a shaking fixed camera does (a PTZ move): the shift is over the limit.</summary>
    public bool CameraMoved { get; init; }
}

/// <summary>
/// Registers a stream's sharp reference to one of its blurry frames, on downscaled luma: phase correlation
/// gives a coarse shift, from which ECC (Evangelidis and Psarakis) fits the motion model; its correlation
/// coefficient is the quality. The reference is blurred a little first, so that it looks more like the
/// blurry frame. A failed, implausible or poor fit is reported, never used. Holds scratch images, so one
/// instance serves one stream on one thread.
/// </summary>
public sealed class ReferenceAligner(FixedCameraOptions options) : IDisposable
{
    /// <summary>The reference's blur (Gaussian σ, in alignment pixels) before it is compared with a blurry frame.</summary>
    public const double ReferenceBlurSigma = 1.0;

    /// <summary>
    /// ECC stops after this many iterations, or once an iteration raises the correlation by less than
    /// <see cref="EccEpsilon"/>: from phase correlation's start it has little left to do, and on 720p frames at
    /// 256 px wide this keeps the alignment a small share of the network's time (README, Fixed-camera mode).
    /// </summary>
    private const int EccIterations = 30;

    private const double EccEpsilon = 1e-3;

    /// <summary>The largest change of scale, rotation or shear (per element of the linear part) taken for a fixed camera.</summary>
    private const double MaxLinearChange = 0.1;

    private readonly Mat _window = new();
    private readonly Mat _phaseReference = new();
    private readonly Mat _phaseCurrent = new();
    private readonly MotionTypes _motion = options.Motion switch
    {
        "translation" => MotionTypes.Translation,
        "affine" => MotionTypes.Affine,
        _ => MotionTypes.Euclidean,
    };

    /// <summary>
    /// Downscales a frame's luma to the alignment width as float32 full-range levels (0..255), the input of
    /// <see cref="Estimate"/>. For a reference, pass <paramref name="blurSigma"/> = <see cref="ReferenceBlurSigma"/>.
    /// </summary>
    public void PrepareLuma(Frame frame, Mat destination, double blurSigma = 0) => PrepareLuma(frame.Image, frame.Layout, destination, blurSigma);

    /// <summary>The same for a frame's image held apart from the frame (the keeper's reference).</summary>
    public void PrepareLuma(Mat image, PixelLayout layout, Mat destination, double blurSigma = 0)
    {
        LumaThumbnail.Downscale(image, layout, options.AlignmentWidth, destination);
        if (blurSigma > 0)
        {
            Cv2.GaussianBlur(destination, destination, new Size(0, 0), blurSigma);
        }
    }

    /// <summary>
    /// Registers <paramref name="reference"/> to <paramref name="current"/> (both from <see cref="PrepareLuma"/>,
    /// the same size) and scales the warp to a frame of <paramref name="fullSize"/>.
    /// </summary>
    public Alignment Estimate(Mat reference, Mat current, Size fullSize)
    {
        if (reference.Size() != current.Size() || reference.Type() != MatType.CV_32FC1 || current.Type() != MatType.CV_32FC1)
        {
            throw new ArgumentException($"alignment needs two float luma images of one size, not {reference.Size()} {reference.Type()} and {current.Size()} {current.Type()}");
        }

        if (_window.Size() != reference.Size())
        {
            Cv2.CreateHanningWindow(_window, reference.Size(), MatType.CV_32F);
        }

        // Phase correlation finds a shift of any size, where ECC alone would stall in a local optimum. It
        // multiplies its inputs by the window in place when their size needs no DFT padding, so it gets copies.
        reference.CopyTo(_phaseReference);
        current.CopyTo(_phaseCurrent);
        Point2d shift = Cv2.PhaseCorrelate(_phaseReference, _phaseCurrent, _window, out _);
        using var warp = Mat.Eye(2, 3, MatType.CV_32FC1).ToMat();
        warp.Set(0, 2, (float)-shift.X); // ECC's warp maps frame pixels to reference pixels: the opposite way
        warp.Set(1, 2, (float)-shift.Y);

        double quality;
        try
        {
            quality = Cv2.FindTransformECC(current, reference, warp, _motion,
                new TermCriteria(CriteriaTypes.Count | CriteriaTypes.Eps, EccIterations, EccEpsilon), inputMask: null, gaussFiltSize: 5);
        }
        catch (OpenCVException ex)
        {
            return Failed(double.NaN, 0, $"ECC did not converge ({ex.Status})");
        }

        double scaleX = (double)fullSize.Width / reference.Width;
        double scaleY = (double)fullSize.Height / reference.Height;
        double[,] small = ToArray(warp);
        double[,] full = ToFullResolution(small, scaleX, scaleY);
        double shiftPixels = Math.Sqrt((full[0, 2] * full[0, 2]) + (full[1, 2] * full[1, 2]));
        double linearChange = Math.Max(
            Math.Max(Math.Abs(small[0, 0] - 1), Math.Abs(small[1, 1] - 1)),
            Math.Max(Math.Abs(small[0, 1]), Math.Abs(small[1, 0])));

        if (!double.IsFinite(quality) || !double.IsFinite(shiftPixels))
        {
            return Failed(double.NaN, 0, "ECC gave no usable warp");
        }

        if (shiftPixels > options.MaxShiftFraction * fullSize.Width)
        {
            return Failed(quality, shiftPixels, $"shift of {shiftPixels:F1} px is over max_shift_fraction ({options.MaxShiftFraction} of {fullSize.Width} px)") with { CameraMoved = true };
        }

        if (linearChange > MaxLinearChange)
        {
            return Failed(quality, shiftPixels, $"the warp rotates, scales or shears by {linearChange:F3}, more than a fixed camera does");
        }

        if (quality < options.MinAlignmentQuality)
        {
            return Failed(quality, shiftPixels, $"ECC correlation {quality:F3} is under min_alignment_quality {options.MinAlignmentQuality}");
        }

        return new Alignment(true, quality, shiftPixels, full, null);

        Alignment Failed(double q, double s, string why) => new(false, q, s, Identity(), why);
    }

    /// <summary>Warps a BGR reference onto the frame's pixel grid with <paramref name="alignment"/>; the caller owns the result.</summary>
    public static Mat Warp(Mat referenceBgr, Alignment alignment, Size frameSize)
    {
        using var matrix = new Mat(2, 3, MatType.CV_64FC1);
        for (int r = 0; r < 2; r++)
        {
            for (int c = 0; c < 3; c++)
            {
                matrix.Set(r, c, alignment.Warp[r, c]);
            }
        }

        var aligned = new Mat();
        Cv2.WarpAffine(referenceBgr, aligned, matrix, frameSize, InterpolationFlags.Linear | InterpolationFlags.WarpInverseMap, BorderTypes.Replicate);
        return aligned;
    }

    /// <summary>
    /// The reference on the frame's grid for verified fusion, which takes detail from it: any interpolation blurs that
    /// detail (bilinear at half a pixel halves the finest), so where the warp's linear part moves no pixel of the frame
    /// by much more than half a pixel from where its middle goes (the rotation of 0.1–0.2° that ECC often reads into a
    /// shake that has none, between a blurry frame and a sharp one), the reference is only moved by the warp's shift
    /// rounded to whole pixels (an exact copy; the blur kernel measured afterwards takes up the fraction). Otherwise it
    /// is warped with bicubic interpolation. The caller owns the result.
    /// </summary>
    public static Mat WarpForDetail(Mat referenceBgr, Alignment alignment, Size frameSize)
    {
        double[,] w = alignment.Warp;
        double reach = Math.Max(frameSize.Width, frameSize.Height);
        bool shiftOnly = (Math.Abs(w[0, 0] - 1) + Math.Abs(w[0, 1])) * reach <= 1.0 && (Math.Abs(w[1, 0]) + Math.Abs(w[1, 1] - 1)) * reach <= 1.0;
        using var matrix = new Mat(2, 3, MatType.CV_64FC1);
        matrix.SetArray(shiftOnly
            ? new double[] { 1, 0, Math.Round(w[0, 2] + ((w[0, 0] - 1 + w[0, 1]) * reach / 2)), 0, 1, Math.Round(w[1, 2] + ((w[1, 0] + w[1, 1] - 1) * reach / 2)) }
            : new double[] { w[0, 0], w[0, 1], w[0, 2], w[1, 0], w[1, 1], w[1, 2] });
        var aligned = new Mat();
        Cv2.WarpAffine(referenceBgr, aligned, matrix, frameSize, (shiftOnly ? InterpolationFlags.Nearest : InterpolationFlags.Cubic) | InterpolationFlags.WarpInverseMap, BorderTypes.Replicate);
        return aligned;
    }

    /// <summary>
    /// The warp for full-resolution pixels. An area downscale by (sx, sy) puts full pixel X at small pixel
    /// (X + 0.5) / sx − 0.5, so the full warp is up · small · down with those affine maps.
    /// </summary>
    private static double[,] ToFullResolution(double[,] small, double sx, double sy)
    {
        double[,] down = { { 1 / sx, 0, (0.5 / sx) - 0.5 }, { 0, 1 / sy, (0.5 / sy) - 0.5 }, { 0, 0, 1 } };
        double[,] up = { { sx, 0, (0.5 * sx) - 0.5 }, { 0, sy, (0.5 * sy) - 0.5 }, { 0, 0, 1 } };
        double[,] warp = { { small[0, 0], small[0, 1], small[0, 2] }, { small[1, 0], small[1, 1], small[1, 2] }, { 0, 0, 1 } };
        double[,] product = Multiply(up, Multiply(warp, down));
        return new[,] { { product[0, 0], product[0, 1], product[0, 2] }, { product[1, 0], product[1, 1], product[1, 2] } };
    }

    private static double[,] Multiply(double[,] a, double[,] b)
    {
        var result = new double[3, 3];
        for (int r = 0; r < 3; r++)
        {
            for (int c = 0; c < 3; c++)
            {
                result[r, c] = (a[r, 0] * b[0, c]) + (a[r, 1] * b[1, c]) + (a[r, 2] * b[2, c]);
            }
        }

        return result;
    }

    private static double[,] ToArray(Mat warp)
    {
        var result = new double[2, 3];
        for (int r = 0; r < 2; r++)
        {
            for (int c = 0; c < 3; c++)
            {
                result[r, c] = warp.At<float>(r, c);
            }
        }

        return result;
    }

    private static double[,] Identity() => new double[,] { { 1, 0, 0 }, { 0, 1, 0 } };

    public void Dispose()
    {
        _window.Dispose();
        _phaseReference.Dispose();
        _phaseCurrent.Dispose();
    }
}
