using OpenCvSharp;
using StreamDeblur.Video.FixedCamera;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>The alignment on real frames of the sample clip (a fixed surveillance camera), blurred as camera shake blurs them.</summary>
public sealed class ReferenceAlignerTests
{
    private static readonly FixedCameraOptions s_options = new();

    [Theory]
    [InlineData(7.0, -4.5)]
    [InlineData(-12.3, 9.6)]
    [InlineData(0.0, 0.0)]
    public void RecoversAKnownShiftOfABlurredFrame(double dx, double dy)
    {
        using Mat sharp = SampleFrames.Frame(70);
        using Mat moved = Transform(sharp, 0, dx, dy);
        Alignment alignment = Align(sharp, moved, blurSeed: 1);

        Assert.True(alignment.Succeeded, alignment.Failure);
        // The frame shows the reference moved by (dx, dy): frame pixel x shows reference pixel x − (dx, dy).
        Assert.InRange(alignment.Warp[0, 2], -dx - 1, -dx + 1);
        Assert.InRange(alignment.Warp[1, 2], -dy - 1, -dy + 1);
        Assert.InRange(alignment.Quality, 0.95, 1.0);
    }

    [Fact]
    public void RecoversARotationAndShiftAndTheWarpedReferenceFitsTheFrame()
    {
        using Mat sharp = SampleFrames.Frame(80);
        using Mat moved = Transform(sharp, 1.5, 4, -3);
        using Mat kernel = SampleFrames.ShakeKernel(2, 13);
        using Mat blurry = SampleFrames.Blur(moved, kernel);
        Alignment alignment = Align(sharp, blurry, blurSeed: null);

        Assert.True(alignment.Succeeded, alignment.Failure);
        double angle = Math.Atan2(alignment.Warp[1, 0], alignment.Warp[0, 0]) * 180 / Math.PI;
        // GetRotationMatrix2D's +1.5° has atan2(m10, m00) = -1.5°; the warp, which maps frame pixels back onto
        // the reference, is its inverse.
        Assert.InRange(angle, 1.5 - 0.2, 1.5 + 0.2);

        // Warped, the reference lines up with the moved frame; unwarped it does not (away from the borders).
        using Mat warped = ReferenceAligner.Warp(sharp, alignment, sharp.Size());
        var inner = new Rect(40, 40, sharp.Width - 80, sharp.Height - 80);
        using var movedInner = new Mat(moved, inner);
        using var warpedInner = new Mat(warped, inner);
        using var sharpInner = new Mat(sharp, inner);
        double aligned = Cv2.PSNR(warpedInner, movedInner);
        double unaligned = Cv2.PSNR(sharpInner, movedInner);
        Assert.True(aligned > unaligned + 6, $"warped reference {aligned:F1} dB against the frame, unwarped {unaligned:F1} dB");
    }

    [Fact]
    public void AlignsARealBurstFrameOfTheSampleToTheLastSharpFrameBeforeIt()
    {
        // Frames 27 to 41 of the sample were blurred when it was made, while people walked on; 26 is sharp.
        Assert.True(SampleFrames.IsSharp(26));
        Assert.False(SampleFrames.IsSharp(41));
        using Mat reference = SampleFrames.Frame(26);
        using Mat blurry = SampleFrames.Frame(41);
        Alignment alignment = Align(reference, blurry, blurSeed: null);
        Assert.True(alignment.Succeeded, alignment.Failure);
        Assert.True(alignment.ShiftPixels < 3, $"a fixed camera's burst frame moved {alignment.ShiftPixels:F1} px");
    }

    [Fact]
    public void RejectsAnotherScene()
    {
        using Mat reference = SampleFrames.Frame(70);
        using Mat other = AnotherScene(reference.Size());
        Alignment alignment = Align(reference, other, blurSeed: 3);
        Assert.False(alignment.Succeeded);
        Assert.True(!(alignment.Quality >= s_options.MinAlignmentQuality), $"quality {alignment.Quality:F3} for another scene");
        Assert.NotNull(alignment.Failure);
        Assert.False(alignment.CameraMoved && alignment.Quality >= s_options.MinAlignmentQuality);
    }

    [Fact]
    public void RejectsAShiftOverTheLimit()
    {
        using Mat sharp = SampleFrames.Frame(70);
        using Mat panned = Transform(sharp, 0, 0.1 * sharp.Width, 0); // a PTZ pan of a tenth of the view
        Alignment alignment = Align(sharp, panned, blurSeed: 4);
        Assert.False(alignment.Succeeded);
        Assert.Contains("max_shift_fraction", alignment.Failure);
        Assert.True(alignment.CameraMoved);
        Assert.InRange(alignment.ShiftPixels, 0.1 * sharp.Width - 3, 0.1 * sharp.Width + 3);
    }

    [Fact]
    public void WorksOnI420Frames()
    {
        using Mat sharp = SampleFrames.Frame(70);
        using Mat moved = Transform(sharp, 0, 6, 3);
        using Mat kernel = SampleFrames.ShakeKernel(5, 11);
        using Mat blurry = SampleFrames.Blur(moved, kernel);
        using var i420Reference = new Mat();
        using var i420Blurry = new Mat();
        Cv2.CvtColor(sharp, i420Reference, ColorConversionCodes.BGR2YUV_I420);
        Cv2.CvtColor(blurry, i420Blurry, ColorConversionCodes.BGR2YUV_I420);
        using var aligner = new ReferenceAligner(s_options);
        using var referenceLuma = new Mat();
        using var blurryLuma = new Mat();
        aligner.PrepareLuma(i420Reference, PixelLayout.I420, referenceLuma, ReferenceAligner.ReferenceBlurSigma);
        aligner.PrepareLuma(i420Blurry, PixelLayout.I420, blurryLuma);
        Alignment alignment = aligner.Estimate(referenceLuma, blurryLuma, sharp.Size());
        Assert.True(alignment.Succeeded, alignment.Failure);
        Assert.InRange(alignment.Warp[0, 2], -7, -5);
        Assert.InRange(alignment.Warp[1, 2], -4, -2);
    }

    /// <summary>Registers a sharp reference to a frame (blurred first by a shake kernel when a seed is given).</summary>
    [Fact]
    public void VerifiedFusionGetsAnExactCopyMovedByWholePixelsWhenTheWarpIsAShift()
    {
        using Mat sharp = SampleFrames.Frame(70);
        var shift = new Alignment(true, 0.99, 3.2, new double[,] { { 1, 0, 2.4 }, { 0, 1, -3.6 } }, null);
        using Mat moved = ReferenceAligner.WarpForDetail(sharp, shift, sharp.Size());
        // Frame pixel (x, y) shows reference pixel (x + 2, y - 4): the shift rounded, no interpolation.
        using var expected = new Mat(sharp, new Rect(2, 0, sharp.Width - 2, sharp.Height - 4));
        using var got = new Mat(moved, new Rect(0, 4, sharp.Width - 2, sharp.Height - 4));
        Assert.Equal(0, Cv2.Norm(expected, got, NormTypes.INF));

        // A rotation that moves the corners by pixels is warped (bicubic), not shifted.
        double a = 0.5 * Math.PI / 180;
        var rotation = new Alignment(true, 0.99, 0, new double[,] { { Math.Cos(a), -Math.Sin(a), 0 }, { Math.Sin(a), Math.Cos(a), 0 } }, null);
        using Mat rotated = ReferenceAligner.WarpForDetail(sharp, rotation, sharp.Size());
        using Mat bilinear = ReferenceAligner.Warp(sharp, rotation, sharp.Size());
        Assert.True(Cv2.Norm(sharp, rotated, NormTypes.L1) > 0);
        Assert.True(Cv2.PSNR(rotated, bilinear) > 30, "the bicubic and the bilinear warps should show the same rotated view");
    }

    private static Alignment Align(Mat reference, Mat frame, int? blurSeed)
    {
        using Mat kernel = SampleFrames.ShakeKernel(blurSeed ?? 0, 15);
        using Mat blurry = blurSeed is null ? frame.Clone() : SampleFrames.Blur(frame, kernel);
        using var aligner = new ReferenceAligner(s_options);
        using var referenceFrame = new Frame("t", 0, TimeSpan.Zero, reference.Clone());
        using var blurryFrame = new Frame("t", 1, TimeSpan.Zero, blurry.Clone());
        using var referenceLuma = new Mat();
        using var blurryLuma = new Mat();
        aligner.PrepareLuma(referenceFrame, referenceLuma, ReferenceAligner.ReferenceBlurSigma);
        aligner.PrepareLuma(blurryFrame, blurryLuma);
        return aligner.Estimate(referenceLuma, blurryLuma, reference.Size());
    }

    /// <summary>The image turned by <paramref name="degrees"/> about its centre, then moved by (dx, dy); borders replicated.</summary>
    internal static Mat Transform(Mat image, double degrees, double dx, double dy)
    {
        using Mat matrix = Cv2.GetRotationMatrix2D(new Point2f(image.Width / 2f, image.Height / 2f), degrees, 1.0);
        matrix.Set(0, 2, matrix.At<double>(0, 2) + dx);
        matrix.Set(1, 2, matrix.At<double>(1, 2) + dy);
        var moved = new Mat();
        Cv2.WarpAffine(image, moved, matrix, image.Size(), InterpolationFlags.Linear, BorderTypes.Replicate);
        return moved;
    }

    /// <summary>A photograph from the held-out evaluation set, at the given size: a cut to another scene.</summary>
    internal static Mat AnotherScene(Size size)
    {
        using Mat photo = Cv2.ImRead(TestPaths.TestData("eval", "005_sharp.png"));
        var scene = new Mat();
        Cv2.Resize(photo, scene, size);
        return scene;
    }
}
