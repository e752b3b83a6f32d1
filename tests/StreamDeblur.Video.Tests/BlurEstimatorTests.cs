using System.Text.Json;
using OpenCvSharp;
using StreamDeblur.Video;
using Xunit;

namespace StreamDeblur.Tests;

public sealed class BlurEstimatorTests
{
    [Fact]
    public void SharpnessFallsMonotonicallyWithMotionBlurLength()
    {
        // Shipped fixtures: one held-out crop with linear motion blur of 0, 3, 5, 9, 15 and 21 px (training/make_sample_clip.py).
        using JsonDocument manifest = JsonDocument.Parse(File.ReadAllText(TestPaths.TestData("blur_levels", "manifest.json")));
        var levels = manifest.RootElement.GetProperty("levels").EnumerateArray()
            .Select(l => (Length: l.GetProperty("length_px").GetInt32(), File: l.GetProperty("file").GetString()!))
            .OrderBy(l => l.Length)
            .ToList();
        Assert.True(levels.Count >= 5);

        using var estimator = new BlurEstimator(new BlurOptions());
        var scores = new List<double>();
        foreach ((int _, string file) in levels)
        {
            using Mat image = Cv2.ImRead(TestPaths.TestData("blur_levels", file));
            Assert.False(image.Empty());
            scores.Add(estimator.Measure(image).Sharpness);
        }

        for (int i = 1; i < scores.Count; i++)
        {
            Assert.True(scores[i] < scores[i - 1], $"sharpness at {levels[i].Length} px ({scores[i]:F1}) is not below {levels[i - 1].Length} px ({scores[i - 1]:F1})");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(45)]
    [InlineData(90)]
    [InlineData(135)]
    public void MotionCueFindsTheBlurDirection(double angle)
    {
        // 004 is a fairly isotropic scene; strongly oriented content biases the structure tensor (a known limit of the cue).
        using Mat sharp = Cv2.ImRead(Path.Combine(TestPaths.TestData("eval"), "004_sharp.png"));
        using Mat blurred = LinearBlur(sharp, 15, angle);
        using var estimator = new BlurEstimator(new BlurOptions { AnalysisWidth = 1024 });
        BlurMeasurement measurement = estimator.Measure(blurred);

        double error = Math.Abs(measurement.MotionAngleDegrees - angle) % 180;
        error = Math.Min(error, 180 - error);
        Assert.True(error < 20, $"estimated {measurement.MotionAngleDegrees:F1}°, blurred at {angle}°");
        Assert.True(measurement.MotionCoherence > estimator.Measure(sharp).MotionCoherence);
    }

    [Fact]
    public void WithoutTheMotionCueTheScoreIsTheSameAndTheMotionFieldsAreZero()
    {
        using Mat sharp = Cv2.ImRead(Path.Combine(TestPaths.TestData("eval"), "004_sharp.png"));
        using Mat blurred = LinearBlur(sharp, 15, 0);
        using var estimator = new BlurEstimator(new BlurOptions { AnalysisWidth = 1024, MaxMotionLag = 24 });
        BlurMeasurement full = estimator.Measure(blurred);
        BlurMeasurement scoreOnly = estimator.Measure(blurred, motionCue: false);

        Assert.Equal(full.Sharpness, scoreOnly.Sharpness);
        Assert.True(full.MotionExtentPixels > 0 && full.MotionCoherence > 0, "the cue found nothing on a 15 px blur");
        Assert.Equal((0.0, 0.0, 0.0), (scoreOnly.MotionAngleDegrees, scoreOnly.MotionCoherence, scoreOnly.MotionExtentPixels));
    }

    [Fact]
    public void MotionExtentGrowsWithBlurLength()
    {
        using Mat sharp = Cv2.ImRead(Path.Combine(TestPaths.TestData("eval"), "004_sharp.png"));
        using var estimator = new BlurEstimator(new BlurOptions { AnalysisWidth = 1024, MaxMotionLag = 24 });
        using Mat short_ = LinearBlur(sharp, 5, 0);
        using Mat long_ = LinearBlur(sharp, 15, 0);
        double shortExtent = estimator.Measure(short_).MotionExtentPixels;
        double longExtent = estimator.Measure(long_).MotionExtentPixels;
        Assert.True(longExtent > shortExtent, $"extent {longExtent} for 15 px is not above {shortExtent} for 5 px");
        Assert.InRange(longExtent, 8, 22);
    }

    [Fact]
    public void ScoreDoesNotDependOnResolution()
    {
        using Mat sharp = Cv2.ImRead(Path.Combine(TestPaths.TestData("eval"), "002_sharp.png"));
        using var big = new Mat();
        Cv2.Resize(sharp, big, new Size(sharp.Width * 4, sharp.Height * 4), interpolation: InterpolationFlags.Area);
        using var smaller = new Mat();
        Cv2.Resize(big, smaller, new Size(sharp.Width * 2, sharp.Height * 2), interpolation: InterpolationFlags.Area);
        using var estimator = new BlurEstimator(new BlurOptions { AnalysisWidth = 256 });
        double a = estimator.Measure(big).Sharpness;
        double b = estimator.Measure(smaller).Sharpness;
        Assert.InRange(a / b, 0.7, 1.4);
    }

    /// <summary>Blurs with a normalised line kernel of the given length and direction (image coordinates, y down).</summary>
    internal static Mat LinearBlur(Mat image, int length, double angleDegrees)
    {
        int size = length | 1;
        using var kernel = new Mat(size, size, MatType.CV_32FC1, Scalar.All(0));
        double radians = angleDegrees * Math.PI / 180;
        var c = new Point2d((size - 1) / 2.0, (size - 1) / 2.0);
        var d = new Point2d(Math.Cos(radians) * (length - 1) / 2.0, Math.Sin(radians) * (length - 1) / 2.0);
        Cv2.Line(kernel, new Point((int)Math.Round(c.X - d.X), (int)Math.Round(c.Y - d.Y)), new Point((int)Math.Round(c.X + d.X), (int)Math.Round(c.Y + d.Y)), Scalar.All(1), 1, LineTypes.Link8);
        Cv2.Divide(kernel, Cv2.Sum(kernel), kernel);
        var blurred = new Mat();
        Cv2.Filter2D(image, blurred, -1, kernel, borderType: BorderTypes.Reflect101);
        return blurred;
    }
}
