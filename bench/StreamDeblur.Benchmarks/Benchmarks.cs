using BenchmarkDotNet.Attributes;
using OpenCvSharp;
using StreamDeblur.Inference;
using StreamDeblur.Video;

namespace StreamDeblur.Benchmarks;

/// <summary>The locating of the repository's shipped files from the benchmark's working folder.</summary>
internal static class Repo
{
    public static string Root
    {
        get
        {
            string? dir = Directory.GetCurrentDirectory();
            while (dir is not null && !File.Exists(Path.Combine(dir, "StreamDeblur.sln")))
            {
                dir = Path.GetDirectoryName(dir);
            }

            return dir ?? throw new InvalidOperationException("run from inside the repository");
        }
    }

    /// <summary>A real frame of the sample clip, scaled to the given size.</summary>
    public static Mat SampleFrame(int width, int height)
    {
        using var capture = new VideoCapture(Path.Combine(Root, "samples", "vtest-blur.mp4"));
        using var frame = new Mat();
        capture.Read(frame);
        var scaled = new Mat();
        Cv2.Resize(frame, scaled, new Size(width, height));
        return scaled;
    }
}

/// <summary>Cost of scoring one frame, on one core (OpenCV's own threads off).</summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 3, iterationCount: 10)]
public class BlurEstimatorBenchmarks
{
    private Mat _frame = new();
    private BlurEstimator _estimator = null!;

    [Params(1280, 1920)]
    public int Width { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Cv2.SetNumThreads(1);
        _frame = Repo.SampleFrame(Width, Width * 9 / 16);
        _estimator = new BlurEstimator(new BlurOptions());
    }

    [Benchmark]
    public double Measure() => _estimator.Measure(_frame).Sharpness;

    [GlobalCleanup]
    public void Cleanup()
    {
        _estimator.Dispose();
        _frame.Dispose();
    }
}

/// <summary>Pre- and post-processing of a 720p frame around the network: pack (pad, normalise, planar) and unpack (crop, clamp, interleave).</summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 3, iterationCount: 10)]
public class TensorPackingBenchmarks
{
    private Mat _frame = new();
    private TensorPacker _packer = null!;

    [Params(1, 4)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Cv2.SetNumThreads(1);
        _frame = Repo.SampleFrame(1280, 720);
        _packer = new TensorPacker(ModelMetadata.Load(Path.Combine(Repo.Root, "models", "deblur-fast.json")));
        _packer.Prepare(Batch, 720, 1280);
    }

    [Benchmark]
    public void Pack()
    {
        for (int i = 0; i < Batch; i++)
        {
            _packer.Pack(_frame, i);
        }
    }

    [Benchmark]
    public void Unpack()
    {
        for (int i = 0; i < Batch; i++)
        {
            _packer.Unpack(i, _frame);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _packer.Dispose();
        _frame.Dispose();
    }
}
