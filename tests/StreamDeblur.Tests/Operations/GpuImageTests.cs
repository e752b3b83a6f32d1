using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit;

namespace StreamDeblur.Tests.Operations;

/// <summary>
/// The GPU image must carry the CUDA major version that the ONNX Runtime GPU package was built against, or the
/// CUDA provider cannot load and every GPU user silently gets the CPU. These tests read the NEEDED entries of the
/// restored package's provider libraries (scripts/setup.sh restores it) and compare them with the Dockerfile, so
/// that a package bump that moves to another CUDA fails here instead of in production.
/// </summary>
public sealed partial class GpuImageTests
{
    private const string GpuPackage = "Microsoft.ML.OnnxRuntime.Gpu.Linux";

    [Theory]
    [InlineData("libonnxruntime_providers_cuda.so")]
    [InlineData("libonnxruntime_providers_tensorrt.so")]
    public void TheGpuImageBaseHasTheCudaMajorVersionTheProviderLinks(string library)
    {
        IReadOnlyList<string> needed = ElfLibrary.Needed(Path.Combine(NativeFolder(), library));
        int[] cudaMajors = [.. needed.Select(n => CudaLibrary().Match(n)).Where(m => m.Success).Select(m => int.Parse(m.Groups["major"].Value)).Distinct()];
        Assert.True(cudaMajors.Length == 1, $"{library} should link one CUDA major version; NEEDED: {string.Join(", ", needed)}");

        Match image = BaseImage().Match(DockerfileStage("gpu"));
        Assert.True(image.Success, "the gpu stage is not built FROM nvidia/cuda:<major>.<minor>.<patch>-cudnn-runtime-<os>");
        Assert.True(
            int.Parse(image.Groups["major"].Value) == cudaMajors[0],
            $"{library} of {GpuPackage} {PackageVersion()} links CUDA {cudaMajors[0]} ({string.Join(", ", needed.Where(n => CudaLibrary().IsMatch(n)))}), " +
            $"but the gpu image is {image.Value}");
    }

    [Fact]
    public void TheTensorRtProviderNeedsCuDnn9WhichTheCudnnBaseCarries()
    {
        IReadOnlyList<string> needed = ElfLibrary.Needed(Path.Combine(NativeFolder(), "libonnxruntime_providers_tensorrt.so"));
        Assert.Contains("libcudnn.so.9", needed); // NVIDIA's CUDA 13 "-cudnn-" images carry cuDNN 9
        Assert.Contains("libnvinfer.so.10", needed); // TensorRT 10, which the image does not carry (docs/operations.md)
        Assert.Contains("-cudnn-runtime-", BaseImage().Match(DockerfileStage("gpu")).Value);
    }

    [Fact]
    public void TheElfReaderAgreesWithReadelf()
    {
        foreach (string library in Directory.GetFiles(NativeFolder(), "*.so"))
        {
            var psi = new ProcessStartInfo("readelf", ["-d", library]) { RedirectStandardOutput = true };
            using Process readelf = Process.Start(psi)!;
            string output = readelf.StandardOutput.ReadToEnd();
            readelf.WaitForExit();
            string[] expected = [.. ReadelfNeeded().Matches(output).Select(m => m.Groups[1].Value)];
            Assert.NotEmpty(expected);
            Assert.Equal(expected, ElfLibrary.Needed(library));
        }
    }

    private static string PackageVersion()
    {
        string props = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "Directory.Packages.props"));
        return Regex.Match(props, $@"Include=""{Regex.Escape(GpuPackage)}"" Version=""([^""]+)""").Groups[1].Value;
    }

    /// <summary>The restored package's native folder, for the version Directory.Packages.props pins.</summary>
    private static string NativeFolder()
    {
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string folder = Path.Combine(packages, GpuPackage.ToLowerInvariant(), PackageVersion(), "runtimes", "linux-x64", "native");
        Assert.True(Directory.Exists(folder), $"{folder} is missing: ./scripts/setup.sh restores the GPU package (dotnet restore -p:OrtFlavor=gpu)");
        return folder;
    }

    private static string DockerfileStage(string name)
    {
        string dockerfile = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "Dockerfile"));
        Match start = Regex.Match(dockerfile, $@"(?m)^FROM \S+ AS {Regex.Escape(name)}$");
        Assert.True(start.Success, $"no stage named {name}");
        return dockerfile[start.Index..(start.Index + start.Length)];
    }

    [GeneratedRegex(@"^lib(?:cudart|cublas|cublasLt)\.so\.(?<major>\d+)$")]
    private static partial Regex CudaLibrary();

    [GeneratedRegex(@"nvidia/cuda:(?<major>\d+)\.\d+\.\d+-cudnn-runtime-\S+")]
    private static partial Regex BaseImage();

    [GeneratedRegex(@"\(NEEDED\)\s+Shared library: \[([^\]]+)\]")]
    private static partial Regex ReadelfNeeded();
}
