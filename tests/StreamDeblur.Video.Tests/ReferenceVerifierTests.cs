using OpenCvSharp;
using StreamDeblur.Video.FixedCamera;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>
/// Verified fusion on real frames of the sample clip (a fixed surveillance camera): the blur is measured from the
/// reference and the blurry frame, and only what is provably the reference seen through that blur is restored from it.
/// </summary>
public sealed class ReferenceVerifierTests
{
    private static readonly Rect s_object = new(96, 120, 72, 110);

    [Fact]
    public void MeasuresTheCameraShakeKernelFromTheReferenceAndTheBlurryFrame()
    {
        using Mat sharp = SampleFrames.Frame(80);
        using Mat kernel = SampleFrames.ShakeKernel(3, 15);
        using Mat blurry = Noisy(SampleFrames.Blur(sharp, kernel), 2.0);
        using Mat referenceLuma = Luma(sharp);
        using Mat blurryLuma = Luma(blurry);
        using var weight = new Mat(sharp.Size(), MatType.CV_32FC1, Scalar.All(1));
        Cv2.Rectangle(weight, new Rect(0, 0, weight.Width, weight.Height), Scalar.All(0), 24);
        using var estimator = new BlurKernelEstimator();

        using Mat? estimate = estimator.Estimate(referenceLuma, blurryLuma, weight, 12);

        Assert.NotNull(estimate);
        Assert.Equal(1.0, Cv2.Sum(estimate).Val0, 3);
        // SampleFrames.Blur correlates, so the convolution kernel that made the frame is the shake kernel flipped.
        using var truth = new Mat();
        Cv2.Flip(kernel, truth, FlipMode.XY);
        double similarity = Similarity(estimate, truth);
        Assert.True(similarity > 0.8, $"estimated kernel's normalised correlation with the true one: {similarity:F3}");
        using var reblurred = new Mat();
        BlurKernelEstimator.Convolve(referenceLuma, estimate, reblurred);
        using var inner = new Mat(reblurred, new Rect(24, 24, reblurred.Width - 48, reblurred.Height - 48));
        using var innerBlurry = new Mat(blurryLuma, new Rect(24, 24, reblurred.Width - 48, reblurred.Height - 48));
        double psnr = Cv2.PSNR(inner, innerBlurry, 255);
        Assert.True(psnr > 38, $"the reference blurred by the estimate against the blurry frame: {psnr:F2} dB");
    }

    [Theory]
    [InlineData(1)] // a luma plane
    [InlineData(3)] // a BGR frame
    public void AStrokeKernelIsAppliedAsTheSameConvolutionThatFilter2DComputes(int channels)
    {
        using Mat frame = SampleFrames.Frame(80);
        using var image = new Mat();
        if (channels == 1)
        {
            using var gray = new Mat();
            Cv2.CvtColor(frame, gray, ColorConversionCodes.BGR2GRAY);
            gray.ConvertTo(image, MatType.CV_32F);
        }
        else
        {
            frame.ConvertTo(image, MatType.CV_32FC3);
        }

        // A shake kernel placed off the middle of a 41² square, as the estimator returns one for a misaligned pair.
        using Mat shake = SampleFrames.ShakeKernel(4, 15);
        using var kernel = new Mat(41, 41, MatType.CV_32FC1, Scalar.All(0));
        using (var target = new Mat(kernel, new Rect(20, 14, shake.Cols, shake.Rows)))
        {
            shake.CopyTo(target);
        }

        Assert.InRange(Cv2.CountNonZero(kernel), 2, BlurKernelEstimator.SparseTaps);
        using var expected = new Mat();
        using var flipped = new Mat();
        Cv2.Flip(kernel, flipped, FlipMode.XY);
        Cv2.Filter2D(image, expected, MatType.CV_32F, flipped, borderType: BorderTypes.Replicate);
        using var actual = new Mat();

        BlurKernelEstimator.Convolve(image, kernel, actual);

        Assert.Equal(expected.Type(), actual.Type());
        using var difference = new Mat();
        Cv2.Absdiff(expected, actual, difference);
        Cv2.MinMaxLoc(difference.Reshape(1), out _, out double worst);
        Assert.True(worst < 1e-3, $"largest difference from filter2D: {worst}");
    }

    [Fact]
    public void AnObjectThatAppearedOrLeftIsNeverVerifiedAndTheStaticSceneIs()
    {
        using Mat reference = SampleFrames.Frame(80);
        using Mat kernel = SampleFrames.ShakeKernel(4, 13);
        using var verifier = new ReferenceVerifier(new FixedCameraOptions());

        // Appeared: an object pasted into the current frame only.
        using Mat withObject = Paste(reference);
        using Mat blurryWithObject = Noisy(SampleFrames.Blur(withObject, kernel), 2.0);
        (VerifiedReference? appeared, double appearedFraction, string? failure) = verifier.Verify(blurryWithObject, reference);
        using (appeared)
        {
            Assert.Null(failure);
            Assert.NotNull(appeared);
            Assert.True(appearedFraction > 0.5, $"verified share of a mostly static frame: {appearedFraction:F3}");
            Assert.Equal(0.0, MaxWeight(appeared, s_object));
        }

        // Left: the object is in the reference only.
        using Mat blurry = Noisy(SampleFrames.Blur(reference, kernel), 2.0);
        (VerifiedReference? left, double leftFraction, _) = verifier.Verify(blurry, withObject);
        using (left)
        {
            Assert.NotNull(left);
            Assert.True(leftFraction > 0.5, $"verified share: {leftFraction:F3}");
            Assert.Equal(0.0, MaxWeight(left, s_object));
        }
    }

    [Fact]
    public void TheFrameEdgeIsJudgedLikeTheRestAndAnObjectComingInThereIsNotVerified()
    {
        // As a camera sees it: the blur at the frame's edge mixes in the view beyond the frame. Blur the whole
        // frame, then keep its middle, the reference cut the same way.
        var view = new Rect(48, 48, 640, 480);
        using Mat whole = SampleFrames.Frame(80);
        using Mat kernel = SampleFrames.ShakeKernel(4, 13);
        using Mat blurredWhole = Noisy(SampleFrames.Blur(whole, kernel), 2.0);
        using Mat reference = new Mat(whole, view).Clone();
        using Mat blurry = new Mat(blurredWhole, view).Clone();
        using var verifier = new ReferenceVerifier(new FixedCameraOptions());

        (VerifiedReference? verified, _, _) = verifier.Verify(blurry, reference);
        using (verified)
        {
            Assert.NotNull(verified);
            double edge = MeanWeight(verified, new Rect(0, 0, view.Width, 24)) + MeanWeight(verified, new Rect(0, view.Height - 24, view.Width, 24))
                + MeanWeight(verified, new Rect(0, 0, 24, view.Height)) + MeanWeight(verified, new Rect(view.Width - 24, 0, 24, view.Height));
            Assert.True(edge / 4 > 0.5, $"mean weight in the 24 px band along the edges of a static view: {edge / 4:F3}");
        }

        // An object coming in at the left edge, in the current frame only.
        var entering = new Rect(0, 200, 60, 110);
        using Mat withObject = whole.Clone();
        using (var patch = new Mat(whole, new Rect(600, 330, entering.Width, entering.Height)))
        using (var target = new Mat(withObject, new Rect(view.X, view.Y + entering.Y, entering.Width, entering.Height)))
        {
            Cv2.BitwiseNot(patch, target);
        }

        using Mat blurredWithObject = Noisy(SampleFrames.Blur(withObject, kernel), 2.0);
        using Mat blurryWithObject = new Mat(blurredWithObject, view).Clone();
        (VerifiedReference? appeared, _, _) = verifier.Verify(blurryWithObject, reference);
        using (appeared)
        {
            Assert.NotNull(appeared);
            // Under 1 %: where a corner of the object happens to match the blurred view within the noise, the
            // feather of its neighbours' marks may reach it; the detail added there is below one level.
            double max = MaxWeight(appeared, entering);
            Assert.True(max < 0.01, $"largest weight on the object coming in at the edge: {max:F4}");
        }
    }

    [Fact]
    public void WhereVerifiedTheFrameIsRestoredCloseToTheSharpScene()
    {
        using Mat sharp = SampleFrames.Frame(100);
        using Mat kernel = SampleFrames.ShakeKernel(5, 15);
        using Mat blurry = Noisy(SampleFrames.Blur(sharp, kernel), 2.0);
        using var verifier = new ReferenceVerifier(new FixedCameraOptions());

        (VerifiedReference? verified, double fraction, _) = verifier.Verify(blurry, sharp);

        using (verified)
        {
            Assert.NotNull(verified);
            using var mask = new Mat();
            Cv2.Threshold(verified.Weight, mask, 0.99, 255, ThresholdTypes.Binary);
            using var mask8 = new Mat();
            mask.ConvertTo(mask8, MatType.CV_8U);
            double before = MaskedPsnr(blurry, sharp, mask8), after = MaskedPsnr(verified.Restored, sharp, mask8);
            Assert.True(after > before + 6, $"verified region ({fraction:P0} of the frame): blurry {before:F2} dB, restored {after:F2} dB");
            // The restored frame keeps the recorded frame's own noise: it is not the reference copied.
            Assert.True(after < 45, $"restored {after:F2} dB against the reference: too close to be the frame's own pixels");
        }
    }

    [Fact]
    public void AlongStrongEdgesACompressedReferenceIsStillVerified()
    {
        // Surveillance video is compressed: the reference's edges carry the codec's ringing, which the current frame's
        // compression does not repeat. The residual that leaves along every strong edge grows with the edge's detail,
        // not with any change in the scene.
        using Mat sharp = SampleFrames.Frame(100);
        Cv2.ImEncode(".jpg", sharp, out byte[] jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, 50));
        using Mat reference = Cv2.ImDecode(jpeg, ImreadModes.Color);
        using Mat kernel = SampleFrames.ShakeKernel(5, 15);
        using Mat blurry = Noisy(SampleFrames.Blur(sharp, kernel), 1.0);
        using var byNoise = new ReferenceVerifier(new FixedCameraOptions { VerifyDetailAllowance = 0 });
        using var byDetail = new ReferenceVerifier(new FixedCameraOptions());

        (VerifiedReference? noiseOnly, double noiseFraction, _) = byNoise.Verify(blurry, reference);
        (VerifiedReference? withDetail, double detailFraction, _) = byDetail.Verify(blurry, reference);
        noiseOnly?.Dispose();
        using (withDetail)
        {
            Assert.NotNull(withDetail);
            Assert.True(detailFraction > noiseFraction + 0.1, $"verified share: {noiseFraction:P0} by the noise alone, {detailFraction:P0} with the detail allowance");
        }
    }

    [Fact]
    public void AChangeAmongStrongDetailIsMarkedHoweverLargeTheDetailAllowance()
    {
        // The windows and the van at the top right of the sample's frame: strong detail everywhere in a 24 px square,
        // which is 32 levels brighter now than in the reference. At the largest allowance that detail alone would lift
        // the limit there past the change's residual (without the cap, half the square verifies); the cap at twice
        // the noise limit keeps all of it marked.
        using Mat reference = SampleFrames.Frame(100);
        var change = new Rect(653, 49, 24, 24);
        using Mat changed = reference.Clone();
        using (var target = new Mat(changed, change))
        {
            Cv2.Add(target, Scalar.All(32), target);
        }

        using Mat kernel = SampleFrames.ShakeKernel(4, 13);
        using Mat blurry = Noisy(SampleFrames.Blur(changed, kernel), 2.0);
        using var verifier = new ReferenceVerifier(new FixedCameraOptions { VerifyDetailAllowance = 0.5 });

        (VerifiedReference? verified, _, _) = verifier.Verify(blurry, reference);

        using (verified)
        {
            Assert.NotNull(verified);
            double max = MaxWeight(verified, change);
            Assert.True(max == 0, $"largest weight on the change: {max:F4}, mean {MeanWeight(verified, change):F4}");
        }
    }

    private static Mat Paste(Mat image)
    {
        Mat result = image.Clone();
        using var patch = new Mat(image, new Rect(560, 330, s_object.Width, s_object.Height));
        using var flipped = new Mat();
        Cv2.Flip(patch, flipped, FlipMode.Y);
        Cv2.BitwiseNot(flipped, flipped); // an object unlike anything at that place
        using var target = new Mat(result, s_object);
        flipped.CopyTo(target);
        return result;
    }

    private static double MaxWeight(VerifiedReference verified, Rect region)
    {
        using var roi = new Mat(verified.Weight, region);
        Cv2.MinMaxLoc(roi, out _, out double max);
        return Math.Round(max, 6);
    }

    private static double MeanWeight(VerifiedReference verified, Rect region)
    {
        using var roi = new Mat(verified.Weight, region);
        return Cv2.Mean(roi).Val0;
    }

    private static Mat Noisy(Mat image, double sigma)
    {
        using var noise = new Mat(image.Size(), MatType.CV_16SC3);
        Cv2.SetTheRNG(7);
        Cv2.Randn(noise, Scalar.All(0), Scalar.All(sigma));
        using var wide = new Mat();
        image.ConvertTo(wide, MatType.CV_16SC3);
        Cv2.Add(wide, noise, wide);
        var result = new Mat();
        wide.ConvertTo(result, MatType.CV_8UC3);
        image.Dispose();
        return result;
    }

    /// <summary>Luma in linear light (0..255), where SampleFrames.Blur blurs as an exposure does.</summary>
    private static Mat Luma(Mat bgr)
    {
        using var linear = new Mat();
        SrgbCurve.Linearise(bgr, linear);
        var luma = new Mat();
        Cv2.CvtColor(linear, luma, ColorConversionCodes.BGR2GRAY);
        return luma;
    }

    /// <summary>The normalised cross-correlation of two kernels, centred on each other (the smaller padded).</summary>
    private static double Similarity(Mat a, Mat b)
    {
        int side = Math.Max(a.Rows, b.Rows);
        using Mat pa = Centre(a, side), pb = Centre(b, side);
        double dot = pa.Dot(pb);
        return dot / Math.Sqrt(pa.Dot(pa) * pb.Dot(pb));
    }

    private static Mat Centre(Mat kernel, int side)
    {
        int pad = (side - kernel.Rows) / 2;
        var result = new Mat();
        Cv2.CopyMakeBorder(kernel, result, pad, side - kernel.Rows - pad, pad, side - kernel.Cols - pad, BorderTypes.Constant, Scalar.All(0));
        return result;
    }

    private static double MaskedPsnr(Mat a, Mat b, Mat mask)
    {
        using var diff = new Mat();
        Cv2.Absdiff(a, b, diff);
        using var wide = new Mat();
        diff.ConvertTo(wide, MatType.CV_32FC3);
        Cv2.Multiply(wide, wide, wide);
        Scalar mean = Cv2.Mean(wide, mask);
        double mse = (mean.Val0 + mean.Val1 + mean.Val2) / 3;
        return 10 * Math.Log10(255.0 * 255.0 / Math.Max(mse, 1e-10));
    }
}
