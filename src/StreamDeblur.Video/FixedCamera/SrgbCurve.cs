using OpenCvSharp;

namespace StreamDeblur.Video.FixedCamera;

/// <summary>
/// The sRGB transfer curve (IEC 61966-2-1) on OpenCV images. A camera's exposure integrates light, so a shaken frame is
/// the sharp scene blurred in linear light and then encoded; the blur model is only exact there. Linear values are
/// kept on the 0..255 scale of the 8-bit codes, so that levels and tolerances read the same on both sides.
/// </summary>
public static class SrgbCurve
{
    private static readonly Lazy<Mat> s_toLinear = new(() =>
    {
        var table = new float[256];
        for (int code = 0; code < 256; code++)
        {
            table[code] = (float)(255.0 * ToLinear(code / 255.0));
        }

        var lut = new Mat(1, 256, MatType.CV_32FC1);
        lut.SetArray(table);
        return lut;
    });

    /// <summary>An 8-bit image of any channel count in linear light: float32, 0..255.</summary>
    public static void Linearise(Mat codes, Mat linear)
    {
        if (codes.Depth() != MatType.CV_8U)
        {
            throw new ArgumentException($"linearising needs 8-bit codes, not {codes.Type()}");
        }

        Cv2.LUT(codes, s_toLinear.Value, linear);
    }

    /// <summary>
    /// A float32 image in linear light (0..255, values beyond are clipped) encoded back to sRGB codes: float32 0..255
    /// when <paramref name="codes"/> is to be float, else rounded to 8 bits.
    /// </summary>
    public static void Encode(Mat linear, Mat codes, MatType depth)
    {
        if (linear.Depth() != MatType.CV_32F)
        {
            throw new ArgumentException($"encoding needs float32 linear light, not {linear.Type()}");
        }

        using var x = new Mat();
        linear.ConvertTo(x, linear.Type(), 1.0 / 255);
        Cv2.Min(x, Scalar.All(1.0), x);
        Cv2.Max(x, Scalar.All(0.0), x);

        // 1.055·x^(1/2.4) − 0.055 above the knee, 12.92·x below it.
        using var curve = new Mat();
        Cv2.Max(x, Scalar.All(0.0031308), curve);
        Cv2.Pow(curve, 1 / 2.4, curve);
        curve.ConvertTo(curve, curve.Type(), 1.055 * 255, -0.055 * 255);
        using var knee = new Mat();
        Cv2.Compare(x, Scalar.All(0.0031308), knee, CmpTypes.LT);
        using var line = new Mat();
        x.ConvertTo(line, x.Type(), 12.92 * 255);
        line.CopyTo(curve, knee);
        curve.ConvertTo(codes, depth);
    }

    /// <summary>One sRGB code value (0..1) in linear light (0..1).</summary>
    public static double ToLinear(double code) => code <= 0.04045 ? code / 12.92 : Math.Pow((code + 0.055) / 1.055, 2.4);
}
