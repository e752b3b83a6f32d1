using System.Diagnostics;
using OpenCvSharp;
using StreamDeblur.App;
using Xunit;

namespace StreamDeblur.Tests.Operations;

/// <summary>
/// bench/gpu/gpu-check.sh, as far as a machine without a GPU can run it: the one line it fails with when there is
/// no GPU, and how it finds the CUDA 13 libraries of an installed PyTorch (its pip wheels under site-packages/nvidia).
/// The bundle itself runs here through `gpu-check.sh --cpu` (bench/gpu/README.md), which needs the bundle built.
/// </summary>
public sealed class GpuCheckScriptTests
{
    private static string Script => Path.Combine(TestPaths.RepoRoot, "bench", "gpu", "gpu-check.sh");

    [Fact]
    public void WithoutAGpuTheCheckFailsWithOneClearLine()
    {
        (int exit, string stdout, string stderr) = Run([], new() { ["PATH"] = "/usr/bin:/bin" });
        Assert.Equal(2, exit);
        Assert.Equal("gpu-check: no NVIDIA GPU found (nvidia-smi is missing or lists no GPU); --cpu checks the bundle on a machine without one", stderr.Trim());
        Assert.Empty(stdout.Trim());
    }

    [Fact]
    public void TheCudaLibrariesOfAnInstalledPyTorchAreFound()
    {
        // A stand-in python3 whose site-packages hold PyTorch's CUDA 13 wheels' libraries, as on the GPU machine.
        string root = TestPaths.TempDir("gpu-discovery");
        string site = Path.Combine(root, "site-packages");
        string bin = Directory.CreateDirectory(Path.Combine(root, "bin")).FullName;
        File.WriteAllText(Path.Combine(bin, "python3"), $"#!/bin/sh\necho {site}\n");
        File.SetUnixFileMode(Path.Combine(bin, "python3"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string cu13 = Directory.CreateDirectory(Path.Combine(site, "nvidia", "cu13", "lib")).FullName;
        string cudnn = Directory.CreateDirectory(Path.Combine(site, "nvidia", "cudnn", "lib")).FullName;
        foreach (string lib in new[] { "libcudart.so.13", "libcublas.so.13", "libcurand.so.10" })
        {
            File.WriteAllText(Path.Combine(cu13, lib), "");
        }

        File.WriteAllText(Path.Combine(cudnn, "libcudnn.so.9"), "");
        var environment = new Dictionary<string, string> { ["PATH"] = $"{bin}:/usr/bin:/bin", ["LD_LIBRARY_PATH"] = "", ["GPU_CHECK_LIB_DIRS"] = "" };

        // One library missing: the check names it and stops.
        (int exit, string stdout, string stderr) = Run(["--discover-only"], environment);
        Assert.Equal(3, exit);
        Assert.Contains("gpu-check: libcublasLt.so.13: not found", stdout);
        Assert.Contains("CUDA 13 libraries not found: libcublasLt.so.13", stderr);

        File.WriteAllText(Path.Combine(cu13, "libcublasLt.so.13"), "");
        (exit, stdout, _) = Run(["--discover-only"], environment);
        Assert.Equal(0, exit);
        Assert.Contains($"gpu-check: libcublasLt.so.13: {cu13}", stdout);
        Assert.Contains($"gpu-check: libcudnn.so.9: {cudnn}", stdout);
        Assert.Contains("TensorRT 10 not found (libnvinfer.so.10 libnvonnxparser.so.10)", stdout);
    }

    [Fact]
    public void TheBenchmarkClipIsMadeWithOpenCvAlone()
    {
        // gpu-check.sh makes the benchmark's clip on the GPU machine, which has no ffmpeg: `bench --make-clip`.
        // 160 frames from the 150-frame sample: the input is looped, as ffmpeg's -stream_loop -1 does.
        string clip = Path.Combine(TestPaths.TempDir("make-clip"), "clip-720p.mp4");
        (int frames, Size size, double fps) = BenchCommand.MakeClip(TestPaths.SampleClip, 160, clip);
        Assert.Equal((160, new Size(1280, 720), 10.0), (frames, size, Math.Round(fps, 1)));

        using var capture = new VideoCapture(clip);
        using var frame = new Mat();
        Assert.True(capture.Read(frame));
        Assert.Equal(new Size(1280, 720), frame.Size());
        // MPEG-4 Part 2: written as mp4v, which OpenCV's FFmpeg reads back as FMP4.
        Assert.Contains((int)capture.Get(VideoCaptureProperties.FourCC), new[] { (int)FourCC.FromString("FMP4"), (int)FourCC.FromString("mp4v") });
    }

    private static (int Exit, string StdOut, string StdErr) Run(string[] args, Dictionary<string, string> environment)
    {
        var psi = new ProcessStartInfo("bash", [Script, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment.Remove("OUT");
        psi.Environment["OUT"] = TestPaths.TempDir("gpu-check-out");
        foreach ((string name, string value) in environment)
        {
            psi.Environment[name] = value;
        }

        using Process process = Process.Start(psi)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr);
    }
}

/// <summary>
/// bench/gpu/prune_cuda_fatbin.py on the restored package's CUDA provider (284 MB, so trait Slow): only the kept
/// architecture's GPU code stays, and nothing else of the library moves, so it loads as before.
/// </summary>
[Trait("Category", "Slow")]
public sealed class CudaFatbinPruneTests
{
    [Fact]
    public void PruningKeepsOneArchitectureAndTheLibrarysLayout()
    {
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string original = Directory.GetFiles(Path.Combine(packages, "microsoft.ml.onnxruntime.gpu.linux"), "libonnxruntime_providers_cuda.so", SearchOption.AllDirectories).Single();
        string pruned = Path.Combine(TestPaths.TempDir("prune"), "libonnxruntime_providers_cuda.so");
        string script = Path.Combine(TestPaths.RepoRoot, "bench", "gpu", "prune_cuda_fatbin.py");
        try
        {
            Assert.Contains("kept sm_90", FfProbe.Tool("python3", script, original, pruned, "--keep", "90"));
            string[] before = FfProbe.Tool("python3", script, original, "--list").Split('\n', StringSplitOptions.RemoveEmptyEntries);
            string[] after = FfProbe.Tool("python3", script, pruned, "--list").Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains(before, line => line.StartsWith("sm_80 ", StringComparison.Ordinal));
            Assert.Equal(before.Single(l => l.StartsWith("sm_90 ", StringComparison.Ordinal)), after.Single(l => l.StartsWith("sm_90 ", StringComparison.Ordinal)));
            Assert.All(after, line => Assert.True(line.StartsWith("sm_90 ", StringComparison.Ordinal) || line.StartsWith("sm_120 ", StringComparison.Ordinal), line)); // sm_120-only binaries stay whole
            Assert.Equal(new FileInfo(original).Length, new FileInfo(pruned).Length);
            Assert.Equal(FfProbe.Tool("readelf", "-lSW", original).Replace(original, ""), FfProbe.Tool("readelf", "-lSW", pruned).Replace(pruned, ""));
            Assert.Equal(ElfLibrary.Needed(original), ElfLibrary.Needed(pruned));
        }
        finally
        {
            File.Delete(pruned);
        }
    }
}
