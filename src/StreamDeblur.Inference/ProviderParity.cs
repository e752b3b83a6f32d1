using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace StreamDeblur.Inference;

/// <summary>One image deblurred on a provider and on the CPU, and how close the two outputs are.</summary>
/// <param name="Used">The provider the session really runs on: a missing CUDA or TensorRT falls back, and then differs from the one asked for.</param>
public sealed record ParityResult(string Requested, string Used, string Variant, string Image, double PsnrAgainstCpuDb)
{
    /// <summary>The bar GpuTests sets: the GPU's output within 40 dB PSNR of the CPU's.</summary>
    public const double MinimumPsnrDb = 40;

    public bool Passed => Used == Requested && PsnrAgainstCpuDb > MinimumPsnrDb;
}

/// <summary>
/// Runs the shipped model on an execution provider and on the CPU over the same image and compares the outputs.
/// GpuTests (trait Gpu) assert on it; <c>streamdeblur bench --parts providers</c> prints it where no test runner is
/// (bench/gpu/gpu-check.sh, on a GPU machine without .NET).
/// </summary>
public static class ProviderParity
{
    public static ParityResult Compare(string provider, ModelOptions template, string imagePath, ILogger logger)
    {
        ModelOptions On(string executionProvider) => new()
        {
            Metadata = template.Metadata,
            Fp16 = template.Fp16,
            Int8 = template.Int8,
            ExecutionProvider = executionProvider,
            DeviceId = template.DeviceId,
        };

        ModelOptions gpuOptions = On(provider), cpuOptions = On("cpu");
        using DeblurModel gpu = DeblurModel.Load(gpuOptions, logger);
        using DeblurModel cpu = DeblurModel.Load(cpuOptions, logger);
        using Mat blurry = Cv2.ImRead(imagePath);
        if (blurry.Empty())
        {
            throw new ModelException($"cannot read the test image {imagePath}");
        }

        using var onGpu = new DeblurStage(gpu, gpuOptions, logger);
        using var onCpu = new DeblurStage(cpu, cpuOptions, logger);
        using var a = new Frame("gpu", 0, TimeSpan.Zero, blurry.Clone());
        using var b = new Frame("cpu", 0, TimeSpan.Zero, blurry.Clone());
        onGpu.Process(a);
        onCpu.Process(b);
        string variant = template.Fp16 ? "fp16" : template.Int8 ? "int8" : "fp32";
        return new ParityResult(provider, gpu.Provider, variant, Path.GetFileName(imagePath), Cv2.PSNR(a.Image, b.Image));
    }
}
