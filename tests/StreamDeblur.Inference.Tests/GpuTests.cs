using Microsoft.Extensions.Logging.Abstractions;
using StreamDeblur.Inference;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>
/// Runs only on a CUDA machine with the GPU build: `dotnet test -p:OrtFlavor=gpu --filter Category=Gpu`.
/// CI (no GPU) leaves these out. A GPU machine without .NET runs the same check, <see cref="ProviderParity"/>,
/// through bench/gpu/gpu-check.sh (`streamdeblur bench --parts providers`).
/// </summary>
[Trait("Category", "Gpu")]
public sealed class GpuTests
{
    [Theory]
    [InlineData("cuda")]
    [InlineData("tensorrt")]
    public void GpuProviderRunsTheModelLikeTheCpu(string provider)
    {
        ParityResult result = ProviderParity.Compare(provider, new ModelOptions { Metadata = TestPaths.ModelMetadata }, TestPaths.TestData("eval", "000_blurry.png"), NullLogger.Instance);
        Assert.Equal(provider, result.Used);
        Assert.True(result.PsnrAgainstCpuDb > ParityResult.MinimumPsnrDb, $"GPU vs CPU output PSNR {result.PsnrAgainstCpuDb:F1} dB");
    }
}
