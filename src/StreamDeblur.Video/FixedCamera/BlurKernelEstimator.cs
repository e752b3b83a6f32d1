using OpenCvSharp;

namespace StreamDeblur.Video.FixedCamera;

/// <summary>
/// Measures the blur between a sharp reference and a blurry frame of the same view: the kernel k, of bounded support,
/// that best explains frame ≈ k ∗ reference. Least squares on the luma gradients, with each pixel weighted (0 where
/// the scene may have changed), solved in closed form in the Fourier domain with a small Tikhonov term, as in
/// the kernel step of Cho and Lee (2009, "Fast motion deblurring"); here the sharp image is known rather than
/// predicted. The raw solution is then cut to the support, made non-negative, thresholded, reduced to the
/// part connected to its peak, and normalised to sum 1. Holds scratch images: one instance per stream, one thread.
/// </summary>
public sealed class BlurKernelEstimator : IDisposable
{
    /// <summary>The Tikhonov term, as a fraction of the mean gradient power of the weighted reference.</summary>
    public const double Regularisation = 0.01;

    /// <summary>Kernel values under this fraction of the peak are dropped (noise in the raw solution).</summary>
    public const double RelativeFloor = 0.05;

    private readonly Mat _gradient = new();
    private readonly Mat _weighted = new();
    private readonly Mat _padded = new();
    private readonly Mat _referenceX = new();
    private readonly Mat _referenceY = new();
    private readonly Mat _frameX = new();
    private readonly Mat _frameY = new();
    private readonly Mat _numerator = new();
    private readonly Mat _term = new();
    private readonly Mat _power = new();
    private readonly Mat _raw = new();

    /// <summary>
    /// The kernel (float32, (2·<paramref name="radius"/>+1)², sum 1, as a convolution kernel centred on its middle
    /// pixel) such that <paramref name="blurry"/> ≈ kernel ∗ <paramref name="reference"/> where <paramref name="weight"/>
    /// is high; null when nothing could be measured (no weight, no texture).
    /// </summary>
    /// <param name="reference">The aligned sharp reference, float32 luma.</param>
    /// <param name="blurry">The blurry frame, float32 luma of the same size.</param>
    /// <param name="weight">float32 0..1 per pixel, zero near the borders; smooth, so that weighting commutes with the blur.</param>
    /// <param name="radius">The support's half-width in pixels.</param>
    public Mat? Estimate(Mat reference, Mat blurry, Mat weight, int radius)
    {
        if (reference.Size() != blurry.Size() || reference.Size() != weight.Size())
        {
            throw new ArgumentException("kernel estimation needs a reference, a frame and a weight of one size");
        }

        // The weight multiplies the gradients, not the images: weighting an image first would add the weight's own
        // edges to both gradients at the same place, which pulls the kernel towards no shift at all.
        var size = new Size(Cv2.GetOptimalDFTSize(reference.Width + radius), Cv2.GetOptimalDFTSize(reference.Height + radius));
        Spectrum(reference, weight, 1, 0, size, _referenceX);
        Spectrum(reference, weight, 0, 1, size, _referenceY);
        Spectrum(blurry, weight, 1, 0, size, _frameX);
        Spectrum(blurry, weight, 0, 1, size, _frameY);

        // conj(R')·B' summed over both gradients, over |R'|² summed likewise plus the Tikhonov term.
        Cv2.MulSpectrums(_frameX, _referenceX, _numerator, DftFlags.None, conjB: true);
        Cv2.MulSpectrums(_frameY, _referenceY, _term, DftFlags.None, conjB: true);
        Cv2.Add(_numerator, _term, _numerator);
        Cv2.MulSpectrums(_referenceX, _referenceX, _power, DftFlags.None, conjB: true);
        Cv2.MulSpectrums(_referenceY, _referenceY, _term, DftFlags.None, conjB: true);
        Cv2.Add(_power, _term, _power);

        Mat[] powerPlanes = Cv2.Split(_power);
        Mat[] numeratorPlanes = Cv2.Split(_numerator);
        try
        {
            using Mat denominator = powerPlanes[0];
            double meanPower = Cv2.Mean(denominator).Val0;
            if (!(meanPower > 1e-12))
            {
                return null; // a flat or fully masked scene: nothing to measure
            }

            Cv2.Add(denominator, Scalar.All(Regularisation * meanPower), denominator);
            Cv2.Divide(numeratorPlanes[0], denominator, numeratorPlanes[0]);
            Cv2.Divide(numeratorPlanes[1], denominator, numeratorPlanes[1]);
            Cv2.Merge(numeratorPlanes, _numerator);
        }
        finally
        {
            foreach (Mat plane in powerPlanes.Concat(numeratorPlanes))
            {
                plane.Dispose();
            }
        }

        Cv2.Dft(_numerator, _raw, DftFlags.Inverse | DftFlags.RealOutput | DftFlags.Scale);
        return Clean(_raw, radius);
    }

    /// <summary>The spectrum of the weighted gradient of <paramref name="luma"/> along x (dx=1) or y (dy=1), zero-padded to <paramref name="size"/>.</summary>
    private void Spectrum(Mat luma, Mat weight, int dx, int dy, Size size, Mat destination)
    {
        Cv2.Sobel(luma, _gradient, MatType.CV_32F, dx, dy, 1);
        Cv2.Multiply(_gradient, weight, _weighted);
        Cv2.CopyMakeBorder(_weighted, _padded, 0, size.Height - luma.Height, 0, size.Width - luma.Width, BorderTypes.Constant, Scalar.All(0));
        Cv2.Dft(_padded, destination, DftFlags.ComplexOutput);
    }

    /// <summary>The raw circular solution cut to the support around the origin, non-negative, thresholded, connected to its peak, summing to 1.</summary>
    internal static Mat? Clean(Mat raw, int radius)
    {
        int side = (2 * radius) + 1;
        var values = new float[side, side];
        int rows = raw.Rows, cols = raw.Cols;
        raw.GetArray(out float[] data);
        float peak = 0;
        int peakY = radius, peakX = radius;
        for (int dy = -radius; dy <= radius; dy++)
        {
            int y = (dy + rows) % rows;
            for (int dx = -radius; dx <= radius; dx++)
            {
                float v = Math.Max(0, data[(y * cols) + ((dx + cols) % cols)]);
                values[dy + radius, dx + radius] = v;
                if (v > peak)
                {
                    (peak, peakY, peakX) = (v, dy + radius, dx + radius);
                }
            }
        }

        if (!(peak > 0))
        {
            return null;
        }

        // Keep what is above the floor and 8-connected to the peak: a kernel is one stroke of the camera's path.
        float floor = (float)(RelativeFloor * peak);
        var kept = new bool[side, side];
        var pending = new Stack<(int Y, int X)>();
        pending.Push((peakY, peakX));
        kept[peakY, peakX] = true;
        double sum = 0;
        while (pending.Count > 0)
        {
            (int y, int x) = pending.Pop();
            sum += values[y, x];
            for (int ny = Math.Max(0, y - 1); ny <= Math.Min(side - 1, y + 1); ny++)
            {
                for (int nx = Math.Max(0, x - 1); nx <= Math.Min(side - 1, x + 1); nx++)
                {
                    if (!kept[ny, nx] && values[ny, nx] >= floor)
                    {
                        kept[ny, nx] = true;
                        pending.Push((ny, nx));
                    }
                }
            }
        }

        var output = new float[side * side];
        for (int y = 0; y < side; y++)
        {
            for (int x = 0; x < side; x++)
            {
                output[(y * side) + x] = kept[y, x] ? (float)(values[y, x] / sum) : 0f;
            }
        }

        var kernel = new Mat(side, side, MatType.CV_32FC1);
        kernel.SetArray(output);
        return kernel;
    }

    /// <summary>The half-width of the smallest square around the middle that holds every non-zero value of <paramref name="kernel"/>.</summary>
    public static int SupportRadius(Mat kernel)
    {
        int side = kernel.Rows;
        int radius = side / 2;
        kernel.GetArray(out float[] data);
        int support = 0;
        for (int y = 0; y < side; y++)
        {
            for (int x = 0; x < side; x++)
            {
                if (data[(y * side) + x] > 0)
                {
                    support = Math.Max(support, Math.Max(Math.Abs(y - radius), Math.Abs(x - radius)));
                }
            }
        }

        return support;
    }

    /// <summary>
    /// How far the kernel reaches from its centre of mass, in pixels (the larger of its x and y reach, rounded up): how
    /// far a change in the scene spreads in the blurry frame, wherever the alignment put the kernel's middle.
    /// </summary>
    public static int Reach(Mat kernel)
    {
        int side = kernel.Rows;
        int radius = side / 2;
        Point2d centre = Centroid(kernel);
        kernel.GetArray(out float[] data);
        double reach = 0;
        for (int r = 0; r < side; r++)
        {
            for (int c = 0; c < side; c++)
            {
                if (data[(r * side) + c] > 0)
                {
                    reach = Math.Max(reach, Math.Max(Math.Abs(c - radius - centre.X), Math.Abs(r - radius - centre.Y)));
                }
            }
        }

        return (int)Math.Ceiling(reach);
    }

    /// <summary>The kernel's centre of mass relative to its middle pixel, in pixels (x, y).</summary>
    public static Point2d Centroid(Mat kernel)
    {
        int side = kernel.Rows;
        int radius = side / 2;
        kernel.GetArray(out float[] data);
        double sum = 0, x = 0, y = 0;
        for (int r = 0; r < side; r++)
        {
            for (int c = 0; c < side; c++)
            {
                float v = data[(r * side) + c];
                sum += v;
                x += v * (c - radius);
                y += v * (r - radius);
            }
        }

        return sum > 0 ? new Point2d(x / sum, y / sum) : new Point2d(0, 0);
    }

    /// <summary>The kernel cut to the smallest centred square that holds all of it (cheaper to convolve); the caller owns it.</summary>
    public static Mat Cropped(Mat kernel)
    {
        int radius = kernel.Rows / 2, support = SupportRadius(kernel);
        return new Mat(kernel, new Rect(radius - support, radius - support, (2 * support) + 1, (2 * support) + 1)).Clone();
    }

    /// <summary>
    /// Kernels with at most this many non-zero taps are applied as a sum of shifted copies rather than by filter2D: on
    /// a 768×576 BGR frame a tap costs about 0.1 ms and filter2D's DFT some 130 ms, whatever the taps; a measured
    /// stroke, widened by the blur of its own estimate, often has a few hundred.
    /// </summary>
    public const int SparseTaps = 1024;

    /// <summary>Blurs <paramref name="source"/> by the convolution kernel <paramref name="kernel"/> (as <see cref="Estimate"/> returns it) into <paramref name="destination"/> (float32).</summary>
    public static void Convolve(Mat source, Mat kernel, Mat destination)
    {
        using Mat cropped = Cropped(kernel);
        if (Cv2.CountNonZero(cropped) <= SparseTaps)
        {
            ConvolveSparse(source, cropped, destination);
            return;
        }

        using var flipped = new Mat();
        Cv2.Flip(cropped, flipped, FlipMode.XY); // filter2D correlates; the kernel convolves
        Cv2.Filter2D(source, destination, MatType.CV_32F, flipped, borderType: BorderTypes.Replicate);
    }

    /// <summary>
    /// A camera-shake kernel is a thin stroke: a few dozen taps in a square of up to 41² that filter2D would run in
    /// full. Here each tap adds one shifted, weighted copy of the source (edge pixels repeated): the same sum, about
    /// ten times faster on a 3-channel frame.
    /// </summary>
    private static void ConvolveSparse(Mat source, Mat kernel, Mat destination)
    {
        int radius = kernel.Rows / 2;
        using var padded = new Mat();
        Cv2.CopyMakeBorder(source, padded, radius, radius, radius, radius, BorderTypes.Replicate);
        using var paddedFloat = new Mat();
        Mat taps = padded;
        if (padded.Depth() != MatType.CV_32F)
        {
            padded.ConvertTo(paddedFloat, MatType.CV_32F);
            taps = paddedFloat;
        }

        destination.Create(source.Size(), MatType.MakeType(MatType.CV_32F, source.Channels()));
        destination.SetTo(Scalar.All(0));
        kernel.GetArray(out float[] values);
        int side = kernel.Rows;
        for (int i = 0; i < side; i++)
        {
            for (int j = 0; j < side; j++)
            {
                float value = values[(i * side) + j];
                if (value != 0)
                {
                    // out(y, x) += k(i, j) · source(y − (i − r), x − (j − r)), and source(y, x) is padded(y + r, x + r).
                    using var shifted = new Mat(taps, new Rect((2 * radius) - j, (2 * radius) - i, source.Width, source.Height));
                    Cv2.ScaleAdd(shifted, value, destination, destination);
                }
            }
        }
    }

    public void Dispose()
    {
        _gradient.Dispose();
        _weighted.Dispose();
        _padded.Dispose();
        _referenceX.Dispose();
        _referenceY.Dispose();
        _frameX.Dispose();
        _frameY.Dispose();
        _numerator.Dispose();
        _term.Dispose();
        _power.Dispose();
        _raw.Dispose();
    }
}
