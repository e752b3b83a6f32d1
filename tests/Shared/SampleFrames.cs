using System.Text.Json;
using OpenCvSharp;

namespace StreamDeblur.Tests;

/// <summary>
/// Real frames for the fixed-camera tests: the shipped sample clip (the first 150 frames of vtest.avi, a
/// fixed surveillance camera; H.264) decoded once, and which of them were blurred when it was made.
/// </summary>
public static class SampleFrames
{
    private static readonly Lazy<Mat[]> s_frames = new(Decode);
    private static readonly Lazy<HashSet<int>> s_blurred = new(() =>
    {
        using JsonDocument truth = JsonDocument.Parse(File.ReadAllText(TestPaths.SampleTruth));
        return truth.RootElement.GetProperty("blurred_frames").EnumerateArray().Select(e => e.GetInt32()).ToHashSet();
    });

    public static int Count => s_frames.Value.Length;

    /// <summary>Frame <paramref name="index"/> as a new BGR image, owned by the caller.</summary>
    public static Mat Frame(int index) => s_frames.Value[index].Clone();

    /// <summary>True for the frames the sample clip was made sharp in (outside its blur bursts).</summary>
    public static bool IsSharp(int index) => !s_blurred.Value.Contains(index);

    /// <summary>
    /// A camera-shake blur kernel: a random walk with inertia (fixed seed), rasterised anti-aliased into an odd
    /// square and normalised; <paramref name="length"/> is its extent in pixels.
    /// </summary>
    public static Mat ShakeKernel(int seed, double length)
    {
        var random = new Random(seed);
        const int steps = 64;
        var points = new List<Point2d> { new(0, 0) };
        double angle = random.NextDouble() * Math.PI * 2;
        for (int i = 1; i < steps; i++)
        {
            angle += (random.NextDouble() - 0.5) * 0.9;
            points.Add(new Point2d(points[^1].X + Math.Cos(angle), points[^1].Y + Math.Sin(angle)));
        }

        double extent = points.Max(p => points.Max(q => Math.Sqrt(((p.X - q.X) * (p.X - q.X)) + ((p.Y - q.Y) * (p.Y - q.Y)))));
        double meanX = points.Average(p => p.X), meanY = points.Average(p => p.Y);
        int size = ((int)Math.Ceiling(length) | 1) + 4;
        const int super = 8;
        using var canvas = new Mat(size * super, size * super, MatType.CV_8UC1, Scalar.All(0));
        Point ToCanvas(Point2d p) => new(
            (int)Math.Round((((p.X - meanX) * length / extent) + (size / 2.0)) * super),
            (int)Math.Round((((p.Y - meanY) * length / extent) + (size / 2.0)) * super));
        for (int i = 1; i < points.Count; i++)
        {
            Cv2.Line(canvas, ToCanvas(points[i - 1]), ToCanvas(points[i]), Scalar.All(255), super, LineTypes.AntiAlias);
        }

        using var small = new Mat();
        Cv2.Resize(canvas, small, new Size(size, size), 0, 0, InterpolationFlags.Area);
        var kernel = new Mat();
        small.ConvertTo(kernel, MatType.CV_32F);
        Cv2.Divide(kernel, Scalar.All(Cv2.Sum(kernel).Val0), kernel);
        return kernel;
    }

    /// <summary>
    /// The 8-bit image blurred by <paramref name="kernel"/> in linear light, as a camera's exposure blurs it (the sRGB
    /// curve undone, blurred with a replicated border, redone); the caller owns the result.
    /// </summary>
    public static Mat Blur(Mat image, Mat kernel)
    {
        // Written out here, apart from the product's own curve, so that a test does not check the product against itself.
        static double Decode(double c) => c <= 0.04045 ? c / 12.92 : Math.Pow((c + 0.055) / 1.055, 2.4);
        static double Encode(double x) => x <= 0.0031308 ? 12.92 * x : (1.055 * Math.Pow(x, 1 / 2.4)) - 0.055;

        using Mat codes = image.Reshape(1, image.Rows);
        codes.GetArray(out byte[] bytes);
        var linear = new float[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            linear[i] = (float)Decode(bytes[i] / 255.0);
        }

        using var light = new Mat(codes.Rows, codes.Cols, MatType.CV_32FC1);
        light.SetArray(linear);
        using Mat lightColour = light.Reshape(image.Channels(), image.Rows);
        using var blurredLight = new Mat();
        Cv2.Filter2D(lightColour, blurredLight, -1, kernel, borderType: BorderTypes.Replicate);
        using Mat blurredFlat = blurredLight.Reshape(1, image.Rows);
        blurredFlat.GetArray(out float[] values);
        for (int i = 0; i < values.Length; i++)
        {
            bytes[i] = (byte)Math.Round(255 * Encode(Math.Clamp(values[i], 0f, 1f)));
        }

        var blurred = new Mat(image.Rows, image.Cols, image.Type());
        using Mat blurredCodes = blurred.Reshape(1, image.Rows);
        blurredCodes.SetArray(bytes);
        return blurred;
    }

    private static Mat[] Decode()
    {
        using var capture = new VideoCapture(TestPaths.SampleClip);
        if (!capture.IsOpened())
        {
            throw new InvalidOperationException($"cannot open {TestPaths.SampleClip}");
        }

        var frames = new List<Mat>();
        while (true)
        {
            var frame = new Mat();
            if (!capture.Read(frame) || frame.Empty())
            {
                frame.Dispose();
                break;
            }

            frames.Add(frame);
        }

        return [.. frames];
    }
}
