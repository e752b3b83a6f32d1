using OpenCvSharp;

namespace StreamDeblur.Video;

/// <summary>Full-reference image quality: PSNR and SSIM between a result and the sharp original.</summary>
public static class ImageQuality
{
    /// <summary>PSNR in dB over all channels, 8-bit range (data range 255).</summary>
    public static double Psnr(Mat a, Mat b)
    {
        CheckSameShape(a, b);
        return Cv2.PSNR(a, b, 255);
    }

    /// <summary>
    /// SSIM (Wang et al. 2004): 11×11 Gaussian window with σ = 1.5, K1 = 0.01, K2 = 0.03, data range 255,
    /// computed per channel and averaged over channels and pixels.
    /// </summary>
    public static double Ssim(Mat a, Mat b)
    {
        CheckSameShape(a, b);
        const double c1 = 0.01 * 255 * 0.01 * 255;
        const double c2 = 0.03 * 255 * 0.03 * 255;
        var size = new Size(11, 11);
        using var x = new Mat();
        using var y = new Mat();
        a.ConvertTo(x, MatType.CV_32F);
        b.ConvertTo(y, MatType.CV_32F);
        using var muX = new Mat();
        using var muY = new Mat();
        Cv2.GaussianBlur(x, muX, size, 1.5);
        Cv2.GaussianBlur(y, muY, size, 1.5);
        using Mat muX2 = muX.Mul(muX);
        using Mat muY2 = muY.Mul(muY);
        using Mat muXY = muX.Mul(muY);
        using var sigmaX2 = new Mat();
        using var sigmaY2 = new Mat();
        using var sigmaXY = new Mat();
        using (Mat xx = x.Mul(x)) { Cv2.GaussianBlur(xx, sigmaX2, size, 1.5); }
        using (Mat yy = y.Mul(y)) { Cv2.GaussianBlur(yy, sigmaY2, size, 1.5); }
        using (Mat xy = x.Mul(y)) { Cv2.GaussianBlur(xy, sigmaXY, size, 1.5); }
        Cv2.Subtract(sigmaX2, muX2, sigmaX2);
        Cv2.Subtract(sigmaY2, muY2, sigmaY2);
        Cv2.Subtract(sigmaXY, muXY, sigmaXY);

        using var numerator = new Mat();
        using var denominator = new Mat();
        using var t1 = new Mat();
        using var t2 = new Mat();
        muXY.ConvertTo(t1, -1, 2, c1);        // 2 μx μy + C1
        sigmaXY.ConvertTo(t2, -1, 2, c2);     // 2 σxy + C2
        Cv2.Multiply(t1, t2, numerator);
        Cv2.Add(muX2, muY2, t1);
        t1.ConvertTo(t1, -1, 1, c1);          // μx² + μy² + C1
        Cv2.Add(sigmaX2, sigmaY2, t2);
        t2.ConvertTo(t2, -1, 1, c2);          // σx² + σy² + C2
        Cv2.Multiply(t1, t2, denominator);

        using var map = new Mat();
        Cv2.Divide(numerator, denominator, map);
        Scalar mean = Cv2.Mean(map);
        int channels = a.Channels();
        double sum = 0;
        for (int c = 0; c < channels; c++)
        {
            sum += mean[c];
        }

        return sum / channels;
    }

    private static void CheckSameShape(Mat a, Mat b)
    {
        if (a.Size() != b.Size() || a.Type() != b.Type())
        {
            throw new ArgumentException($"images differ in shape: {a.Width}x{a.Height} {a.Type()} vs {b.Width}x{b.Height} {b.Type()}");
        }
    }
}
