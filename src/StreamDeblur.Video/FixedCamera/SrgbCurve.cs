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

    /// <summary>Table steps per level of linear light: nearest-step lookup is within 0.025 of a code level, at the steepest part of the curve.</summary>
    private const int StepsPerLevel = 256;

    private static readonly Lazy<float[]> s_toCodes = new(() =>
    {
        var table = new float[(255 * StepsPerLevel) + 1];
        for (int i = 0; i < table.Length; i++)
        {
            table[i] = (float)(255.0 * ToCode(i / (255.0 * StepsPerLevel)));
        }

        return table;
    });

    /// <summary>
    /// A float32 image in linear light (0..255, values beyond are clipped) encoded back to sRGB codes: float32 0..255
    /// when <paramref name="codes"/> is to be float, else rounded to 8 bits. A table lookup: the curve's power
    /// function on every value of a full frame cost more than the rest of verified fusion's restore step.
    /// </summary>
    public static unsafe void Encode(Mat linear, Mat codes, MatType depth)
    {
        if (linear.Depth() != MatType.CV_32F)
        {
            throw new ArgumentException($"encoding needs float32 linear light, not {linear.Type()}");
        }

        if (depth != MatType.CV_32F && depth != MatType.CV_8U)
        {
            throw new ArgumentException($"codes are float32 or 8-bit, not {depth}");
        }

        using Mat? copy = linear.IsContinuous() && !ReferenceEquals(linear, codes) ? null : linear.Clone();
        Mat source = copy ?? linear;
        codes.Create(source.Size(), MatType.MakeType(depth == MatType.CV_32F ? MatType.CV_32F : MatType.CV_8U, source.Channels()));
        if (!codes.IsContinuous())
        {
            throw new ArgumentException("encoding writes whole images, not a region of one");
        }

        float[] table = s_toCodes.Value;
        long count = source.Total() * source.Channels();
        float* from = (float*)source.DataPointer;
        const float MaxIndex = 255 * StepsPerLevel;
        if (depth == MatType.CV_32F)
        {
            float* to = (float*)codes.DataPointer;
            for (long i = 0; i < count; i++)
            {
                to[i] = table[(int)(Math.Clamp(from[i] * StepsPerLevel, 0f, MaxIndex) + 0.5f)];
            }
        }
        else
        {
            byte* to = codes.DataPointer;
            for (long i = 0; i < count; i++)
            {
                to[i] = (byte)(table[(int)(Math.Clamp(from[i] * StepsPerLevel, 0f, MaxIndex) + 0.5f)] + 0.5f);
            }
        }
    }

    /// <summary>One linear-light value (0..1) as an sRGB code value (0..1).</summary>
    public static double ToCode(double linear) => linear < 0.0031308 ? 12.92 * linear : (1.055 * Math.Pow(linear, 1 / 2.4)) - 0.055;

    /// <summary>One sRGB code value (0..1) in linear light (0..1).</summary>
    public static double ToLinear(double code) => code <= 0.04045 ? code / 12.92 : Math.Pow((code + 0.055) / 1.055, 2.4);
}
