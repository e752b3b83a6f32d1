using OpenCvSharp;

namespace StreamDeblur.Video;

/// <summary>
/// No-reference blur score for one stream's frames.
/// <list type="bullet">
/// <item>Sharpness: variance of the Laplacian of luma downscaled to <see cref="BlurOptions.AnalysisWidth"/>
/// (bilinear to twice that width, then an area average).
/// Blur removes high frequencies, so the score falls as blur grows; downscaling makes it cheap and
/// comparable across resolutions.</item>
/// <item>Motion cue: the gradient structure tensor gives the direction in which gradients are weakest
/// (the blur direction) and how one-sided that is (coherence). The extent is where the autocorrelation of
/// the derivative along that direction has its negative minimum (a box blur of length L puts paired edges
/// L pixels apart), scaled back to full-resolution pixels.</item>
/// </list>
/// Holds scratch images, so one instance serves one stream on one thread.
/// </summary>
public sealed class BlurEstimator : ISharpnessMeter, IDisposable
{
    private readonly BlurOptions _options;
    private readonly Mat _coarse = new();
    private readonly Mat _gray = new();
    private readonly Mat _small = new();
    private readonly Mat _laplacian = new();
    private readonly Mat _gradX = new();
    private readonly Mat _gradY = new();
    private readonly Mat _directional = new();

    public BlurEstimator(BlurOptions options)
    {
        _options = options;
    }

    /// <summary>Contrast of full-range gray over video (limited-range, 16..235) luma, squared: the variance ratio.</summary>
    private const double LimitedRangeVarianceGain = (255.0 / 219.0) * (255.0 / 219.0);

    /// <summary>
    /// Measures one BGR or grayscale image. The verdict fields are left for the router. Pass
    /// <paramref name="limitedRangeLuma"/> for the Y plane of decoded video (16..235), so that its score matches
    /// that of the same frame decoded to BGR. Without <paramref name="motionCue"/> the motion fields are 0:
    /// the cue costs about as much as the score, and only the frame report reads it.
    /// </summary>
    public BlurMeasurement Measure(Mat image, bool limitedRangeLuma = false, bool motionCue = true)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Empty())
        {
            throw new ArgumentException("cannot score an empty image", nameof(image));
        }

        // Large frames are first subsampled (bilinear) to twice the analysis width, before the colour
        // conversion, so a 1080p frame costs about as much as a 640-wide one; an area average then gives
        // the analysis image. Blur is a low-pass applied before this sampling, so the score still falls with it.
        Mat source = image;
        int coarseWidth = 2 * _options.AnalysisWidth;
        if (image.Width > coarseWidth)
        {
            Cv2.Resize(image, _coarse, new Size(coarseWidth, Math.Max(8, (int)Math.Round(image.Height * (double)coarseWidth / image.Width))), 0, 0, InterpolationFlags.Linear);
            source = _coarse;
        }

        if (source.Channels() == 3)
        {
            Cv2.CvtColor(source, _gray, ColorConversionCodes.BGR2GRAY);
        }
        else
        {
            source.CopyTo(_gray);
        }

        double scale = (double)_gray.Width / image.Width;
        Mat luma = _gray;
        if (_gray.Width > _options.AnalysisWidth)
        {
            int height = Math.Max(8, (int)Math.Round(_gray.Height * (double)_options.AnalysisWidth / _gray.Width));
            Cv2.Resize(_gray, _small, new Size(_options.AnalysisWidth, height), 0, 0, InterpolationFlags.Area);
            luma = _small;
            scale = (double)_options.AnalysisWidth / image.Width;
        }

        Cv2.Laplacian(luma, _laplacian, MatType.CV_32F, ksize: 1);
        Cv2.MeanStdDev(_laplacian, out _, out Scalar stdDev);
        double sharpness = stdDev.Val0 * stdDev.Val0 * (limitedRangeLuma ? LimitedRangeVarianceGain : 1);

        (double angle, double coherence, double extent) = motionCue ? MotionCue(luma) : (0, 0, 0);
        return new BlurMeasurement(sharpness, angle, coherence, extent / scale, Baseline: 0, IsBlurry: false);
    }

    /// <summary>The sharpness score alone, of a BGR image (what the deblur stage measures after the network).</summary>
    public double Sharpness(Mat bgr) => Measure(bgr, limitedRangeLuma: false, motionCue: false).Sharpness;

    private (double AngleDegrees, double Coherence, double ExtentPixels) MotionCue(Mat luma)
    {
        Cv2.Sobel(luma, _gradX, MatType.CV_32F, 1, 0, ksize: 3);
        Cv2.Sobel(luma, _gradY, MatType.CV_32F, 0, 1, ksize: 3);
        double jxx = _gradX.Dot(_gradX);
        double jyy = _gradY.Dot(_gradY);
        double jxy = _gradX.Dot(_gradY);
        double trace = jxx + jyy;
        if (trace <= double.Epsilon)
        {
            return (0, 0, 0);
        }

        double half = Math.Sqrt(((jxx - jyy) * (jxx - jyy) / 4) + (jxy * jxy));
        double coherence = 2 * half / trace;

        // Gradients are strongest across the blur and weakest along it: the blur runs at 90° to the dominant gradient.
        double gradientAngle = 0.5 * Math.Atan2(2 * jxy, jxx - jyy);
        double motionAngle = gradientAngle + (Math.PI / 2);
        double cos = Math.Cos(motionAngle);
        double sin = Math.Sin(motionAngle);

        // Derivative along the blur direction.
        Cv2.AddWeighted(_gradX, cos, _gradY, sin, 0, _directional);
        double energy = _directional.Dot(_directional) / _directional.Total();
        double extent = 0;
        if (energy > 1e-6)
        {
            double best = -0.05; // require a clear negative lobe
            for (int lag = 2; lag <= _options.MaxMotionLag; lag++)
            {
                int dx = (int)Math.Round(lag * cos);
                int dy = (int)Math.Round(lag * sin);
                double correlation = ShiftedCorrelation(_directional, dx, dy) / energy;
                if (correlation < best)
                {
                    best = correlation;
                    extent = Math.Sqrt((dx * dx) + (dy * dy));
                }
            }
        }

        double degrees = motionAngle * 180 / Math.PI;
        degrees = ((degrees % 180) + 180) % 180;
        return (degrees, coherence, extent);
    }

    private static double ShiftedCorrelation(Mat image, int dx, int dy)
    {
        int width = image.Width - Math.Abs(dx);
        int height = image.Height - Math.Abs(dy);
        if (width <= 0 || height <= 0)
        {
            return 0;
        }

        using var a = new Mat(image, new Rect(Math.Max(0, -dx), Math.Max(0, -dy), width, height));
        using var b = new Mat(image, new Rect(Math.Max(0, dx), Math.Max(0, dy), width, height));
        return a.Dot(b) / ((double)width * height);
    }

    public void Dispose()
    {
        _coarse.Dispose();
        _gray.Dispose();
        _small.Dispose();
        _laplacian.Dispose();
        _gradX.Dispose();
        _gradY.Dispose();
        _directional.Dispose();
    }
}
