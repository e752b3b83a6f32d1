using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using StreamDeblur.Inference;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>
/// The shipped two-frame model (models/deblur-fixed.json, trained by the lead), run for real by ONNX Runtime. Skipped
/// until it is shipped; STREAMDEBLUR_FIXED_MODEL points them at another model.
/// </summary>
public sealed class ShippedTwoFrameModelTests
{
    [TwoFrameModelFact]
    public void LoadsWithTheFixedCameraContract()
    {
        using DeblurModel model = Load();
        Assert.True(model.TakesReference);
        Assert.Equal(("input", "reference", "output"), (model.Metadata.Input, model.Metadata.ReferenceInput, model.Metadata.Output));
        Assert.Equal(32, model.Metadata.PadMultiple);
        Assert.True(model.Metadata.Params > 0 && model.Metadata.Gmac720p > 0);
        Assert.True(new FileInfo(model.ModelPath).Length < 20_000_000, "the model must stay under 20 MB");
    }

    /// <summary>training/export_onnx.py --name deblur-fixed writes a seeded input pair and PyTorch's output for it.</summary>
    [TwoFrameModelFact]
    public void MatchesPyTorchWithin1e4()
    {
        (float[] input, int[] shape) = Npy.ReadFloat32(TestPaths.TestData("parity_deblur-fixed_input.npy"));
        (float[] reference, int[] referenceShape) = Npy.ReadFloat32(TestPaths.TestData("parity_deblur-fixed_reference.npy"));
        (float[] expected, int[] outShape) = Npy.ReadFloat32(TestPaths.TestData("parity_deblur-fixed_output.npy"));
        Assert.Equal(shape, referenceShape);
        Assert.Equal(shape, outShape);
        using DeblurModel model = Load();
        var output = new float[expected.Length];
        model.Run(input, reference, output, shape[0], shape[2], shape[3]);
        double maxError = expected.Zip(output).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(maxError <= 1e-4, $"max |ORT - PyTorch| = {maxError:E2}");
    }

    /// <summary>The INT8 variant the contract asks for: smaller, and close to FP32 on a real frame and its reference.</summary>
    [TwoFrameModelFact]
    public void TheInt8VariantGivesACloseImage()
    {
        using DeblurModel full = Load();
        Assert.True(full.Metadata.Int8File is not null, "the two-frame model's metadata names no int8_file");
        using DeblurModel int8 = Load(int8: true);
        Assert.True(new FileInfo(int8.ModelPath).Length < 0.5 * new FileInfo(full.ModelPath).Length);
        using Mat a = Deblur(full);
        using Mat b = Deblur(int8);
        Assert.InRange(Cv2.PSNR(a, b), 35, 60);
    }

    private static DeblurModel Load(bool int8 = false) =>
        DeblurModel.Load(new ModelOptions { Metadata = TwoFrameModel.Metadata!, Int8 = int8, IntraOpThreads = 2 }, NullLogger.Instance);

    /// <summary>Sample frame 41 (inside a burst of blur) with frame 26 (the last sharp one before it) as the reference.</summary>
    private static Mat Deblur(DeblurModel model)
    {
        using var stage = new DeblurStage(model, new ModelOptions(), NullLogger.Instance, model);
        using var frame = new Frame("t", 41, TimeSpan.Zero, SampleFrames.Frame(41));
        frame.AttachReference(SampleFrames.Frame(26));
        stage.Process(frame);
        Assert.True(frame.ReferenceUsed);
        return frame.Image.Clone();
    }
}
