using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using StreamDeblur.Inference;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>
/// Runs only on a CUDA machine with the GPU build: `dotnet test -p:OrtFlavor=gpu --filter Category=Gpu`.
/// CI (no GPU) leaves these out.
/// </summary>
[Trait("Category", "Gpu")]
public sealed class GpuTests
{
    [Theory]
    [InlineData("cuda")]
    [InlineData("tensorrt")]
    public void GpuProviderRunsTheModelLikeTheCpu(string provider)
    {
        var gpuOptions = new ModelOptions { Metadata = TestPaths.ModelMetadata, ExecutionProvider = provider };
        using DeblurModel gpu = DeblurModel.Load(gpuOptions, NullLogger.Instance);
        Assert.Equal(provider, gpu.Provider);
        var cpuOptions = new ModelOptions { Metadata = TestPaths.ModelMetadata };
        using DeblurModel cpu = DeblurModel.Load(cpuOptions, NullLogger.Instance);

        using Mat blurry = Cv2.ImRead(TestPaths.TestData("eval", "000_blurry.png"));
        using var onGpu = new DeblurStage(gpu, gpuOptions, NullLogger.Instance);
        using var onCpu = new DeblurStage(cpu, cpuOptions, NullLogger.Instance);
        using var a = new Frame("g", 0, TimeSpan.Zero, blurry.Clone());
        using var b = new Frame("c", 0, TimeSpan.Zero, blurry.Clone());
        onGpu.Process(a);
        onCpu.Process(b);
        Assert.True(Cv2.PSNR(a.Image, b.Image) > 40, $"GPU vs CPU output PSNR {Cv2.PSNR(a.Image, b.Image):F1} dB");
    }
}
