using OpenCvSharp;
using StreamDeblur.Inference;
using Xunit;

namespace StreamDeblur.Tests;

public sealed class TensorPackerTests
{
    private static ModelMetadata Metadata(string colorOrder = "BGR", int padMultiple = 16) => new()
    {
        Name = "t",
        File = "t.onnx",
        ColorOrder = colorOrder,
        PadMultiple = padMultiple,
        Scale = 1.0 / 255,
        Mean = [0.1, 0.2, 0.3],
        Std = [0.5, 0.6, 0.7],
    };

    [Theory]
    [InlineData("BGR", 37, 23, 3)]
    [InlineData("RGB", 64, 48, 2)]
    [InlineData("BGR", 1, 1, 1)]
    public void IdentityNetworkRoundTripsExactlyThroughPaddingAndNormalisation(string order, int width, int height, int batch)
    {
        using var packer = new TensorPacker(Metadata(order));
        var images = Enumerable.Range(0, batch).Select(_ => RandomImage(width, height)).ToList();
        packer.Prepare(batch, height, width);
        Assert.Equal(0, packer.PaddedWidth % 16);
        Assert.Equal(0, packer.PaddedHeight % 16);
        for (int i = 0; i < batch; i++)
        {
            packer.Pack(images[i], i);
        }

        Array.Copy(packer.Input, packer.Output, batch * 3 * packer.PaddedHeight * packer.PaddedWidth); // an identity "network"
        for (int i = 0; i < batch; i++)
        {
            using var restored = new Mat(height, width, MatType.CV_8UC3, Scalar.All(0));
            packer.Unpack(i, restored);
            using var diff = new Mat();
            Cv2.Absdiff(images[i], restored, diff);
            Assert.Equal(0, Cv2.CountNonZero(diff.Reshape(1)));
            images[i].Dispose();
        }
    }

    [Fact]
    public void PacksPlanarNormalisedChannelsInModelOrder()
    {
        using var packer = new TensorPacker(Metadata("RGB", padMultiple: 4));
        using var image = new Mat(4, 4, MatType.CV_8UC3, new Scalar(10, 20, 30)); // B, G, R
        packer.Prepare(1, 4, 4);
        packer.Pack(image, 0);
        float[] input = packer.Input;
        // RGB order: channel 0 is red (30), normalised with channel 0's mean and std.
        Assert.Equal((30 / 255.0 - 0.1) / 0.5, input[0], 5);
        Assert.Equal((20 / 255.0 - 0.2) / 0.6, input[16], 5);
        Assert.Equal((10 / 255.0 - 0.3) / 0.7, input[32], 5);
    }

    [Fact]
    public void PaddingReflectsTheImageEdge()
    {
        using var packer = new TensorPacker(Metadata(padMultiple: 8));
        using var image = new Mat(5, 5, MatType.CV_8UC3, Scalar.All(0));
        image.Set(4, 4, new Vec3b(255, 255, 255)); // bottom-right pixel
        packer.Prepare(1, 5, 5);
        packer.Pack(image, 0);
        // Reflect-101 puts pixel (3,3) of the padded plane's mirror at (5,5): 4 + (4 - 3).
        float white = (float)((1.0 - 0.1) / 0.5);
        Assert.Equal(white, packer.Input[(4 * 8) + 4], 4);
        Assert.NotEqual(white, packer.Input[(5 * 8) + 5]);
    }

    [Fact]
    public void OutputIsClampedToTheEightBitRange()
    {
        using var packer = new TensorPacker(Metadata());
        packer.Prepare(1, 16, 16);
        Array.Fill(packer.Output, 1000f, 0, 3 * 16 * 16 / 2);
        Array.Fill(packer.Output, -1000f, 3 * 16 * 16 / 2, 3 * 16 * 16 / 2);
        using var image = new Mat(16, 16, MatType.CV_8UC3, Scalar.All(7));
        packer.Unpack(0, image);
        Cv2.MinMaxLoc(image.Reshape(1), out double min, out double max);
        Assert.Equal(0, min);
        Assert.Equal(255, max);
    }

    internal static Mat RandomImage(int width, int height)
    {
        var image = new Mat(height, width, MatType.CV_8UC3);
        Cv2.Randu(image, Scalar.All(0), Scalar.All(256));
        return image;
    }
}
