using OpenCvSharp;
using StreamDeblur.Video;
using Xunit;

namespace StreamDeblur.Tests;

public sealed class ImageQualityTests
{
    [Fact]
    public void PsnrMatchesTheDefinition()
    {
        using var a = new Mat(64, 64, MatType.CV_8UC3, Scalar.All(100));
        using var b = new Mat(64, 64, MatType.CV_8UC3, Scalar.All(110));
        // Every pixel differs by 10: MSE = 100, PSNR = 10·log10(255² / 100).
        Assert.Equal(10 * Math.Log10(255.0 * 255 / 100), ImageQuality.Psnr(a, b), precision: 6);
    }

    [Fact]
    public void SsimIsOneForIdenticalImagesAndFallsWithNoise()
    {
        using Mat image = Cv2.ImRead(TestPaths.TestData("eval", "000_sharp.png"));
        Assert.Equal(1.0, ImageQuality.Ssim(image, image), precision: 6);
        double previous = 1.0;
        foreach (int sigma in new[] { 5, 15, 40 })
        {
            using var noise = new Mat(image.Size(), MatType.CV_16SC3);
            Cv2.Randn(noise, Scalar.All(0), Scalar.All(sigma));
            using var noisy16 = new Mat();
            image.ConvertTo(noisy16, MatType.CV_16SC3);
            Cv2.Add(noisy16, noise, noisy16);
            using var noisy = new Mat();
            noisy16.ConvertTo(noisy, MatType.CV_8UC3);
            double ssim = ImageQuality.Ssim(image, noisy);
            Assert.True(ssim < previous, $"SSIM {ssim} at sigma {sigma} is not below {previous}");
            previous = ssim;
        }
    }
}
