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

/// <summary>
/// Fixed-camera mode's alignment of a blurry 720p frame to its sharp reference (downscale, phase correlation, ECC,
/// full-resolution warp: what the reference keeper does per blurry frame), against the single-frame network's pass
/// over the same frame as the baseline, so the Ratio column is the alignment's share of a deblurred frame's cost.
/// </summary>
[SimpleJob(warmupCount: 2, iterationCount: 10)]
public class FixedCameraAlignmentBenchmarks
{
    private Mat _reference = new();
    private Mat _blurry = new();
    private DeblurModel _model = null!;
    private DeblurStage _stage = null!;
    private Video.FixedCamera.ReferenceKeeperStage _keeper = null!;

    [GlobalSetup]
    public void Setup()
    {
        _reference = Repo.SampleFrame(1280, 720);
        using var kernel = new Mat(1, 15, MatType.CV_32FC1, Scalar.All(1.0 / 15));
        _blurry = new Mat();
        Cv2.Filter2D(_reference, _blurry, -1, kernel);
        var options = new ModelOptions { Metadata = Path.Combine(Repo.Root, "models", "deblur-fast.json") };
        _model = DeblurModel.Load(options, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        _stage = new DeblurStage(_model, options, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        _keeper = new Video.FixedCamera.ReferenceKeeperStage("bench", new FixedCameraOptions(), new BlurOptions(), new Stages.RouteDispatcher("bench", false, TimeSpan.FromSeconds(1)));
        using var sharp = new Frame("bench", 0, TimeSpan.Zero, _reference.Clone()) { Blur = new BlurMeasurement(1000, 0, 0, 0, 1000, false) };
        _keeper.Keep(sharp);
    }

    [Benchmark(Baseline = true)]
    public void SingleFrameNetwork()
    {
        using var frame = new Frame("bench", 1, TimeSpan.FromMilliseconds(40), _blurry.Clone());
        _stage.Process(frame);
    }

    [Benchmark]
    public bool Align()
    {
        using var frame = new Frame("bench", 1, TimeSpan.FromMilliseconds(40), _blurry.Clone()) { Blur = new BlurMeasurement(100, 0, 0, 0, 1000, true) };
        _keeper.Keep(frame);
        return frame.Reference is not null;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _keeper.Dispose();
        _stage.Dispose();
        _model.Dispose();
        _reference.Dispose();
        _blurry.Dispose();
    }
}
