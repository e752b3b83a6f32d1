using OpenCvSharp;

namespace StreamDeblur.Video.FixedCamera;

/// <summary>
/// Verified fusion: proves, place by place, that a blurry frame shows its aligned sharp reference seen through one
/// blur, and only there restores it from the frame itself plus the detail the blur took away. Never the reference
/// in place of the frame: the frame's own pixels, noise and faint changes stay in the output.
/// <list type="number">
/// <item>Where the scene plainly stayed (the two frames agree after a heavy blur of both), measure the kernel k with
/// frame ≈ k ∗ reference (<see cref="BlurKernelEstimator"/>).</item>
/// <item>Blur the reference by k, fit a gain and an offset, and mark every place whose local RMS difference from the
/// frame exceeds <see cref="FixedCameraOptions.VerifyTolerance"/> × the frame's median: something moved, appeared,
/// left or changed its light there.</item>
/// <item>Measure k again without those places, and mark again.</item>
/// <item>Fill each mark's convex hull (an object is solid: where its inside happens to match the blurred scene within
/// the noise, it is still the object), grow every mark by the kernel's reach from its centre of mass (a change blurs
/// into its surroundings), and feather the rest into a weight 0..1. The frame's border is judged like the rest (see <see cref="FinalWeight"/>).</item>
/// </list>
/// Where the weight is 1 the output is frame + gain·(reference − k ∗ reference), the reference taken at the centre of
/// mass of k (the frame's own position); where it is 0, the network's. The kernel is measured, the reference blurred
/// and the detail added in linear light, where an exposure integrates it (<see cref="SrgbCurve"/>); the differences
/// are judged on the sRGB codes, where a camera's noise is about even from shadows to highlights. Holds
/// scratch images: one instance per stream, one thread.
/// </summary>
public sealed class ReferenceVerifier(FixedCameraOptions options) : IDisposable
{
    /// <summary>The half-width of the window over which the local RMS difference is taken, in analysis pixels.</summary>
    private const int RmsRadius = 3;

    /// <summary>The median local RMS is taken as at least this many levels, so that a frame with no noise at all (a synthetic one) is not failed for quantisation.</summary>
    private const double MinNoiseLevel = 0.75;

    /// <summary>The detail allowance never lifts a place's limit above this many times the noise limit: a change of larger contrast is always marked.</summary>
    private const double DetailAllowanceCap = 2;

    private readonly BlurKernelEstimator _estimator = new();
    private readonly Mat _frameLinear = new();
    private readonly Mat _referenceLinear = new();
    private readonly Mat _frameLuma = new();
    private readonly Mat _frameCodes = new();
    private readonly Mat _referenceCodes = new();
    private readonly Mat _referenceLuma = new();
    private readonly Mat _blurredReference = new();
    private readonly Mat _weight = new();
    private readonly Mat _disagree = new();

    /// <summary>
    /// Verifies <paramref name="frame"/> (BGR, blurry) against <paramref name="reference"/> (BGR, aligned to it, the
    /// same size). Returns the restored frame and its weight, or null with the reason when no kernel could be
    /// measured or nothing verified.
    /// </summary>
    public (VerifiedReference? Verified, double Fraction, string? Failure) Verify(Mat frame, Mat reference)
    {
        if (frame.Size() != reference.Size() || frame.Type() != MatType.CV_8UC3 || reference.Type() != MatType.CV_8UC3)
        {
            throw new ArgumentException($"verification needs two BGR images of one size, not {frame.Size()} {frame.Type()} and {reference.Size()} {reference.Type()}");
        }

        double scale = Math.Min(1.0, options.VerifyWidth / (double)frame.Width);
        var analysis = new Size(Math.Max(16, (int)Math.Round(frame.Width * scale)), Math.Max(16, (int)Math.Round(frame.Height * scale)));
        Luma(frame, analysis, _frameLinear, _frameLuma);
        Luma(reference, analysis, _referenceLinear, _referenceLuma);
        SrgbCurve.Encode(_frameLuma, _frameCodes, MatType.CV_32F);
        SrgbCurve.Encode(_referenceLuma, _referenceCodes, MatType.CV_32F);
        int radius = Math.Max(2, (int)Math.Ceiling(options.MaxKernelFraction * analysis.Width / 2));
        int border = radius + RmsRadius + 2;
        if (analysis.Width <= 4 * border || analysis.Height <= 4 * border)
        {
            return (null, 0, "frame too small");
        }

        // Pass 1: where the scene plainly stayed.
        StaticWeight(radius, border, _weight);
        using Mat? first = _estimator.Estimate(_referenceLuma, _frameLuma, _weight, radius);
        if (first is null)
        {
            return (null, 0, "no_kernel");
        }

        Disagreement(first, _weight, _disagree);

        // Pass 2: without the places that disagreed.
        WeightWithout(_disagree, radius, border, _weight);
        using Mat? kernel = _estimator.Estimate(_referenceLuma, _frameLuma, _weight, radius);
        if (kernel is null)
        {
            return (null, 0, "no_kernel");
        }

        double gain = Disagreement(kernel, _weight, _disagree);
        using Mat weight = FinalWeight(_disagree, BlurKernelEstimator.Reach(kernel));
        double fraction = Cv2.Mean(weight).Val0;
        if (fraction < 0.01)
        {
            return (null, fraction, null);
        }

        return (Restore(_frameLinear, _referenceLinear, kernel, gain, scale, weight), fraction, null);
    }

    /// <summary>
    /// <paramref name="bgr"/> in linear light (float32, 0..255) at full size into <paramref name="linear"/>, and its
    /// luma at <paramref name="size"/> into <paramref name="destination"/>.
    /// </summary>
    private static void Luma(Mat bgr, Size size, Mat linear, Mat destination)
    {
        SrgbCurve.Linearise(bgr, linear);
        using var gray = new Mat();
        Cv2.CvtColor(linear, gray, ColorConversionCodes.BGR2GRAY);
        if (gray.Size() != size)
        {
            Cv2.Resize(gray, destination, size, interpolation: InterpolationFlags.Area);
        }
        else
        {
            gray.CopyTo(destination);
        }
    }

    /// <summary>1 where both frames agree at a scale coarser than any kernel measured (both downscaled by the kernel radius), feathered; 0 at the border.</summary>
    private void StaticWeight(int radius, int border, Mat weight)
    {
        var coarse = new Size(Math.Max(4, _frameLuma.Width / radius), Math.Max(4, _frameLuma.Height / radius));
        using var frameSmall = new Mat();
        using var referenceSmall = new Mat();
        Cv2.Resize(_frameLuma, frameSmall, coarse, interpolation: InterpolationFlags.Area);
        Cv2.Resize(_referenceLuma, referenceSmall, coarse, interpolation: InterpolationFlags.Area);
        using var difference = new Mat();
        Cv2.Absdiff(frameSmall, referenceSmall, difference);
        double limit = options.VerifyTolerance * Math.Max(MinNoiseLevel, Median(difference, 1, 1));
        using var changed = new Mat();
        Cv2.Threshold(difference, changed, limit, 255, ThresholdTypes.Binary);
        using var changed8 = new Mat();
        changed.ConvertTo(changed8, MatType.CV_8U);
        Cv2.Resize(changed8, _disagree, _frameLuma.Size(), interpolation: InterpolationFlags.Nearest);
        WeightWithout(_disagree, radius / 2, border, weight);
    }

    /// <summary>A smooth weight that is 0 on <paramref name="marks"/> grown by <paramref name="grow"/> px and at the border, 1 elsewhere.</summary>
    private static void WeightWithout(Mat marks, int grow, int border, Mat weight)
    {
        using var good = new Mat();
        Grow(marks, grow, border, good);
        good.ConvertTo(weight, MatType.CV_32F, 1.0 / 255);
        Cv2.GaussianBlur(weight, weight, new Size(0, 0), Math.Max(1, grow / 4.0));
    }

    /// <summary>255 where neither a mark (grown by <paramref name="grow"/>) nor the border is, else 0.</summary>
    private static void Grow(Mat marks, int grow, int border, Mat good)
    {
        using var grown = new Mat();
        if (grow > 0)
        {
            using Mat element = Cv2.GetStructuringElement(MorphShapes.Rect, new Size((2 * grow) + 1, (2 * grow) + 1));
            Cv2.Dilate(marks, grown, element);
        }
        else
        {
            marks.CopyTo(grown);
        }

        Cv2.BitwiseNot(grown, good);
        if (border > 0)
        {
            Cv2.Rectangle(good, new Rect(0, 0, good.Width, good.Height), Scalar.All(0), border);
        }
    }

    /// <summary>
    /// Blurs the reference by <paramref name="kernel"/>, fits frame ≈ gain·blurred + offset (in linear light) where
    /// <paramref name="weight"/> is high, and marks (255) every place whose local RMS residual, on the sRGB codes,
    /// exceeds the tolerance × the median. Returns the gain.
    /// </summary>
    private double Disagreement(Mat kernel, Mat weight, Mat marks)
    {
        BlurKernelEstimator.Convolve(_referenceLuma, kernel, _blurredReference);
        using var mask = new Mat();
        Cv2.Threshold(weight, mask, 0.5, 255, ThresholdTypes.Binary);
        using var mask8 = new Mat();
        mask.ConvertTo(mask8, MatType.CV_8U);
        Cv2.MeanStdDev(_blurredReference, out Scalar meanR, out Scalar stdR, mask8);
        Cv2.MeanStdDev(_frameLuma, out Scalar meanF, out _, mask8);
        using var product = new Mat();
        Cv2.Multiply(_blurredReference, _frameLuma, product);
        double covariance = Cv2.Mean(product, mask8).Val0 - (meanR.Val0 * meanF.Val0);
        double variance = stdR.Val0 * stdR.Val0;
        double gain = variance > 1e-6 ? Math.Clamp(covariance / variance, 0.5, 2.0) : 1.0;
        double offset = meanF.Val0 - (gain * meanR.Val0);

        using var predicted = new Mat();
        _blurredReference.ConvertTo(predicted, MatType.CV_32F, gain, offset);
        SrgbCurve.Encode(predicted, predicted, MatType.CV_32F);
        using var residual = new Mat();
        Cv2.Subtract(_frameCodes, predicted, residual);
        Cv2.Multiply(residual, residual, residual);
        Cv2.BoxFilter(residual, residual, MatType.CV_32F, new Size((2 * RmsRadius) + 1, (2 * RmsRadius) + 1));
        Cv2.Sqrt(residual, residual);
        int border = kernel.Rows / 2 + RmsRadius + 2;
        double limit = options.VerifyTolerance * Math.Max(MinNoiseLevel, Median(residual, border, 4));
        using Mat limits = Limits(predicted, limit);
        Cv2.Compare(residual, limits, marks, CmpTypes.GT);
        return gain;
    }

    /// <summary>
    /// The residual each place may have and still count as the reference seen through the kernel: the noise limit,
    /// plus <see cref="FixedCameraOptions.VerifyDetailAllowance"/> × the local RMS of the detail that the blur took
    /// there (reference − blurred reference, on the codes), at most <see cref="DetailAllowanceCap"/> × the noise limit.
    /// A kernel measured a fraction of a pixel off leaves a residual along every strong edge in proportion to that
    /// edge's detail; a change leaves one in proportion to its own contrast, wherever it is.
    /// </summary>
    private Mat Limits(Mat predicted, double noiseLimit)
    {
        var limits = new Mat();
        if (options.VerifyDetailAllowance <= 0)
        {
            limits.Create(predicted.Size(), MatType.CV_32F);
            limits.SetTo(Scalar.All(noiseLimit));
            return limits;
        }

        using var detail = new Mat();
        Cv2.Subtract(_referenceCodes, predicted, detail);
        Cv2.Multiply(detail, detail, detail);
        Cv2.BoxFilter(detail, detail, MatType.CV_32F, new Size((2 * RmsRadius) + 1, (2 * RmsRadius) + 1));
        Cv2.Sqrt(detail, detail);
        detail.ConvertTo(limits, MatType.CV_32F, options.VerifyDetailAllowance, noiseLimit);
        Cv2.Min(limits, Scalar.All(DetailAllowanceCap * noiseLimit), limits);
        return limits;
    }

    /// <summary>
    /// The weight at analysis size: 0 on the marks grown by the kernel's support and a feather, 1 elsewhere. The
    /// border is not left out here: the blurred reference there is taken with its edge pixels repeated, and wherever
    /// the frame's own edge saw something else (the view beyond the frame, an object coming in) it disagrees and is
    /// marked like any other change.
    /// </summary>
    private static Mat FinalWeight(Mat marks, int support)
    {
        FillHulls(marks);
        // The ramp is a Gaussian of sigma feather/2 from the grown edge: at the kernel's support from a mark, two
        // sigmas inside, the weight is under 0.03.
        int feather = Math.Max(2, support / 2);
        using var good = new Mat();
        Grow(marks, support + feather, 0, good);
        var weight = new Mat();
        good.ConvertTo(weight, MatType.CV_32F, 1.0 / 255);
        Cv2.GaussianBlur(weight, weight, new Size(0, 0), feather / 2.0, 0, BorderTypes.Replicate);
        return weight;
    }

    /// <summary>
    /// Fills the convex hull of every group of marks (marks closer than the RMS window joined into one group), in place.
    /// </summary>
    private static void FillHulls(Mat marks)
    {
        using var joined = new Mat();
        using (Mat element = Cv2.GetStructuringElement(MorphShapes.Rect, new Size((2 * RmsRadius) + 1, (2 * RmsRadius) + 1)))
        {
            Cv2.Dilate(marks, joined, element);
        }

        Cv2.FindContours(joined, out Point[][] groups, out _, RetrievalModes.External, ContourApproximationModes.ApproxSimple);
        foreach (Point[] group in groups)
        {
            Cv2.FillConvexPoly(marks, Cv2.ConvexHull(group), Scalar.All(255));
        }
    }

    /// <summary>
    /// The frame plus gain × (reference − kernel ∗ reference) at full size, both given in linear light (float32 BGR),
    /// encoded to 8 bits; and the weight at full size.
    /// </summary>
    private static VerifiedReference Restore(Mat frameLinear, Mat referenceLinear, Mat kernel, double gain, double scale, Mat analysisWeight)
    {
        using var fullKernel = new Mat();
        if (scale < 1)
        {
            int side = (2 * (int)Math.Round(kernel.Rows / 2 / scale)) + 1;
            Cv2.Resize(kernel, fullKernel, new Size(side, side), interpolation: InterpolationFlags.Linear);
            Cv2.Max(fullKernel, Scalar.All(0), fullKernel);
            Cv2.Divide(fullKernel, Scalar.All(Math.Max(1e-12, Cv2.Sum(fullKernel).Val0)), fullKernel);
        }
        else
        {
            kernel.CopyTo(fullKernel);
        }

        using var blurred = new Mat();
        BlurKernelEstimator.Convolve(referenceLinear, fullKernel, blurred);

        // The frame's own position is the centre of mass of its blur (a network keeps it too); the alignment, made on
        // blurry luma, can sit a pixel or two off it for a lopsided kernel. The detail is taken from the reference
        // moved onto that centre: frame = k ∗ R = k_c ∗ (δ_c ∗ R), with k_c the kernel centred on its mass.
        Point2d centre = BlurKernelEstimator.Centroid(fullKernel);
        using var centred = new Mat();
        using (var shift = new Mat(2, 3, MatType.CV_64FC1))
        {
            shift.SetArray(new double[] { 1, 0, -centre.X, 0, 1, -centre.Y });
            Cv2.WarpAffine(referenceLinear, centred, shift, referenceLinear.Size(), InterpolationFlags.Cubic | InterpolationFlags.WarpInverseMap, BorderTypes.Replicate);
        }

        using var detail = new Mat();
        Cv2.Subtract(centred, blurred, detail);
        using var restoredFloat = new Mat();
        Cv2.ScaleAdd(detail, gain, frameLinear, restoredFloat);
        var restored = new Mat();
        SrgbCurve.Encode(restoredFloat, restored, MatType.CV_8U);

        var weight = new Mat();
        if (analysisWeight.Size() != frameLinear.Size())
        {
            Cv2.Resize(analysisWeight, weight, frameLinear.Size(), interpolation: InterpolationFlags.Linear);
        }
        else
        {
            analysisWeight.CopyTo(weight);
        }

        return new VerifiedReference(restored, weight, Cv2.Mean(weight).Val0);
    }

    /// <summary>The median of a float image inside <paramref name="border"/>, from every <paramref name="step"/>-th pixel of every <paramref name="step"/>-th row.</summary>
    private static double Median(Mat image, int border, int step)
    {
        var inner = new Rect(border, border, image.Width - (2 * border), image.Height - (2 * border));
        if (inner.Width <= 0 || inner.Height <= 0)
        {
            return 0;
        }

        using var roi = new Mat(image, inner);
        using var sample = new Mat();
        Cv2.Resize(roi, sample, new Size(Math.Max(1, inner.Width / step), Math.Max(1, inner.Height / step)), interpolation: InterpolationFlags.Nearest);
        sample.GetArray(out float[] values);
        Array.Sort(values);
        return values[values.Length / 2];
    }

    public void Dispose()
    {
        _estimator.Dispose();
        _frameLinear.Dispose();
        _referenceLinear.Dispose();
        _frameLuma.Dispose();
        _frameCodes.Dispose();
        _referenceCodes.Dispose();
        _referenceLuma.Dispose();
        _blurredReference.Dispose();
        _weight.Dispose();
        _disagree.Dispose();
    }
}
