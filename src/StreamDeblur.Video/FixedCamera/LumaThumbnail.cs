using OpenCvSharp;

namespace StreamDeblur.Video.FixedCamera;

/// <summary>
/// Small float luma images of a frame, and the scene-change test between two of them: the reference keeper
/// compares each frame's 64-pixel-wide thumbnail with its reference's.
/// </summary>
public static class LumaThumbnail
{
    /// <summary>The width of the scene-change thumbnails.</summary>
    public const int SceneWidth = 64;

    /// <summary>The thumbnails' blur (Gaussian σ, in thumbnail pixels): it evens out noise and motion blur.</summary>
    public const double SceneBlurSigma = 1.0;

    /// <summary>
    /// Writes the frame's luma, downscaled (area average) to <paramref name="width"/>, into
    /// <paramref name="destination"/> as float32 full-range levels (I420 frames' limited-range Y is rescaled).
    /// </summary>
    public static void Downscale(Frame frame, int width, Mat destination) => Downscale(frame.Image, frame.Layout, width, destination);

    /// <summary>The same for a frame's image held apart from the frame (the keeper's reference).</summary>
    public static void Downscale(Mat image, PixelLayout layout, int width, Mat destination)
    {
        int height = layout == PixelLayout.I420 ? image.Rows / 3 * 2 : image.Rows;
        width = Math.Min(width, image.Width);
        var size = new Size(width, Math.Max(8, (int)Math.Round(height * (double)width / image.Width)));
        using var small = new Mat();
        using (var view = new Mat(image, new Rect(0, 0, image.Width, height))) // an I420 image starts with its Y plane
        {
            Cv2.Resize(view, small, size, 0, 0, InterpolationFlags.Area);
        }

        if (layout == PixelLayout.I420)
        {
            small.ConvertTo(destination, MatType.CV_32F, 255.0 / 219.0, -16 * 255.0 / 219.0);
            return;
        }

        using var gray = new Mat();
        Cv2.CvtColor(small, gray, ColorConversionCodes.BGR2GRAY);
        gray.ConvertTo(destination, MatType.CV_32F);
    }

    /// <summary>The scene thumbnail of a frame: its luma at <see cref="SceneWidth"/>, lightly blurred.</summary>
    public static void Scene(Frame frame, Mat destination)
    {
        Downscale(frame, SceneWidth, destination);
        Cv2.GaussianBlur(destination, destination, new Size(0, 0), SceneBlurSigma);
    }

    /// <summary>Mean luma, in levels.</summary>
    public static double Mean(Mat thumbnail) => Cv2.Mean(thumbnail).Val0;

    /// <summary>
    /// Normalised cross-correlation of two thumbnails of one size (-1..1): near 1 for the same view however lit,
    /// low after a cut or a camera move. Two flat images correlate (1); a flat one and a textured one do not (0).
    /// </summary>
    public static double Correlation(Mat a, Mat b)
    {
        Cv2.MeanStdDev(a, out Scalar meanA, out Scalar stdA);
        Cv2.MeanStdDev(b, out Scalar meanB, out Scalar stdB);
        const double flat = 1e-3;
        if (stdA.Val0 < flat || stdB.Val0 < flat)
        {
            return stdA.Val0 < flat && stdB.Val0 < flat ? 1 : 0;
        }

        double covariance = (a.Dot(b) / a.Total()) - (meanA.Val0 * meanB.Val0);
        return covariance / (stdA.Val0 * stdB.Val0);
    }
}
