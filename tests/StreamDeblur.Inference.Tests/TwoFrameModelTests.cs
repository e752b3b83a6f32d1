using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using StreamDeblur.Inference;
using StreamDeblur.Video;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>
/// The inference side of fixed-camera mode, with the tiny two-frame test models (tests/data/models/two-frame-*,
/// made by tests/tools/make_two_frame_models.py) and the shipped single-frame model, run by ONNX Runtime.
/// </summary>
public sealed class TwoFrameModelTests : IClassFixture<ModelTests.ShippedModel>
{
    private static readonly string s_blend = TestPaths.TestData("models", "two-frame-blend.json");
    private readonly ModelTests.ShippedModel _shipped;

    public TwoFrameModelTests(ModelTests.ShippedModel shipped) => _shipped = shipped;

    [Fact]
    public void ATwoFrameModelLoadsWithItsReferenceInput()
    {
        using DeblurModel model = DeblurModel.Load(new ModelOptions { Metadata = s_blend }, NullLogger.Instance);
        Assert.True(model.TakesReference);
        Assert.Equal("reference", model.Metadata.ReferenceInput);
        Assert.False(_shipped.Model.TakesReference);
        Assert.True(model.WarmUp() > TimeSpan.Zero);
    }

    [Fact]
    public void MetadataThatNamesAReferenceTheModelLacksIsRefused()
    {
        string metadata = RewrittenMetadata(TestPaths.ModelMetadata, json => json["reference_input"] = "reference");
        var ex = Assert.Throws<ModelException>(() => DeblurModel.Load(new ModelOptions { Metadata = metadata }, NullLogger.Instance));
        Assert.Contains("no reference input named 'reference'", ex.Message);
    }

    [Fact]
    public void ATwoInputModelWhoseMetadataNamesOneInputIsRefused()
    {
        string metadata = RewrittenMetadata(s_blend, json => json.Remove("reference_input"));
        var ex = Assert.Throws<ModelException>(() => DeblurModel.Load(new ModelOptions { Metadata = metadata }, NullLogger.Instance));
        Assert.Contains("inputs its metadata does not name (reference)", ex.Message);
    }

    [Fact]
    public void ModelsInTheWrongPlaceAreRefusedWithTheKeyToFix()
    {
        using DeblurModel twoFrame = DeblurModel.Load(new ModelOptions { Metadata = s_blend }, NullLogger.Instance);
        var asSingle = Assert.Throws<ModelException>(() => FixedCameraModel.ThrowIfTwoFrame(twoFrame, s_blend));
        Assert.Contains("fixed_camera.metadata", asSingle.Message);

        StreamDeblurOptions options = OneStream();
        options.FixedCamera.Metadata = TestPaths.ModelMetadata; // the single-frame model where the two-frame one belongs
        var asFixed = Assert.Throws<ModelException>(() => FixedCameraModel.Load(options, NullLogger.Instance));
        Assert.Contains("not a two-frame model", asFixed.Message);
    }

    [Fact]
    public void AMissingTwoFrameModelMeansSingleFrameWithOneLogLine()
    {
        var logger = new ModelTests.ListLogger();
        StreamDeblurOptions options = OneStream();
        options.FixedCamera.Metadata = "/nonexistent/deblur-fixed.json";
        Assert.Null(FixedCameraModel.Load(options, logger));
        string line = Assert.Single(logger.Lines);
        Assert.Contains("/nonexistent/deblur-fixed.json", line);
        Assert.Contains("single-frame", line);

        // Off, or off on every stream: nothing is loaded and nothing is said.
        options.FixedCamera.Metadata = s_blend;
        options.FixedCamera.Enabled = false;
        Assert.Null(FixedCameraModel.Load(options, logger));
        options.FixedCamera.Enabled = true;
        options.Streams[0].FixedCamera = false;
        Assert.Null(FixedCameraModel.Load(options, logger));
        Assert.Single(logger.Lines);

        options.Streams[0].FixedCamera = true;
        options.Blur.Mode = "none"; // nothing is judged blurry, so nothing would use it
        Assert.Null(FixedCameraModel.Load(options, logger));
        options.Blur.Mode = "auto";
        using DeblurModel? model = FixedCameraModel.Load(options, logger);
        Assert.NotNull(model);
        Assert.True(model.TakesReference);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FramesWithAReferenceGoToTheTwoFrameNetworkAndTheOthersToTheSingleFrameOne(bool tiled)
    {
        string stream = "two-frame-" + Guid.NewGuid().ToString("N")[..8];
        using DeblurModel blend = DeblurModel.Load(new ModelOptions { Metadata = s_blend }, NullLogger.Instance);
        ModelOptions options = tiled ? new ModelOptions { TileAbovePixels = 64 * 64, TileSize = 160, TileOverlap = 24 } : _shipped.Options;
        using var meter = new BlurEstimator(new BlurOptions());
        using var stage = new DeblurStage(_shipped.Model, options, NullLogger.Instance, blend, meter);

        using Mat blurryImage = Cv2.ImRead(TestPaths.TestData("eval", "003_blurry.png"));
        using Mat referenceImage = Cv2.ImRead(TestPaths.TestData("eval", "003_sharp.png"));
        double before = meter.Sharpness(blurryImage);
        using var withReference = new Frame(stream, 1, TimeSpan.Zero, blurryImage.Clone())
        {
            Blur = new BlurMeasurement(before, 0, 0, 0, 500, true),
            FixedCamera = new FixedCameraInfo(ReferenceOutcome.Used, 100, 1, 0.95, 0.01),
        };
        Mat reference = referenceImage.Clone();
        withReference.AttachReference(reference);
        using var without = new Frame(stream, 2, TimeSpan.Zero, blurryImage.Clone())
        {
            Blur = new BlurMeasurement(before, 0, 0, 0, 500, true),
            FixedCamera = new FixedCameraInfo(ReferenceOutcome.Unaligned, 200, 2, 0.5, 0.01),
        };

        double usedBefore = Count(stream, "used");
        stage.Process(withReference);
        stage.Process(without);

        // The blend network's output is the average of the frame and its reference.
        using var average = new Mat();
        Cv2.AddWeighted(blurryImage, 0.5, referenceImage, 0.5, 0, average);
        Assert.Equal(FrameRoute.Deblurred, withReference.Route);
        Assert.True(withReference.ReferenceUsed);
        Assert.True(Cv2.Norm(withReference.Image, average, NormTypes.INF) <= 1, "the two-frame network did not get the reference");
        Assert.True(reference.IsDisposed, "the reference is released once used");
        Assert.Null(withReference.Reference);

        // The other frame went through the shipped single-frame network: not the average, and sharper than it was.
        using Mat single = blurryImage.Clone();
        using (var plain = new Frame("x", 0, TimeSpan.Zero, single.Clone()))
        {
            using var singleStage = new DeblurStage(_shipped.Model, options, NullLogger.Instance);
            singleStage.Process(plain);
            Assert.Equal(0, Cv2.Norm(plain.Image, without.Image, NormTypes.INF));
        }

        Assert.False(without.ReferenceUsed);
        Assert.True(Cv2.Norm(without.Image, average, NormTypes.INF) > 10);

        // Counted by what the keeper had, and scored after deblurring.
        Assert.Equal(usedBefore + 1, Count(stream, "used"));
        Assert.Equal(1, Count(stream, "unaligned"));
        Assert.Equal(meter.Sharpness(without.Image), without.SharpnessAfter, precision: 6);
        Assert.Equal(1, PipelineMetrics.SharpnessGain.WithLabels(stream, "used").Count);
        Assert.Equal(1, PipelineMetrics.SharpnessGain.WithLabels(stream, "none").Count);
        Assert.Equal(without.SharpnessAfter / before, PipelineMetrics.SharpnessGain.WithLabels(stream, "none").Sum, precision: 6);
        Assert.Equal(withReference.SharpnessAfter / before, PipelineMetrics.SharpnessGain.WithLabels(stream, "used").Sum, precision: 6);
    }

    [Fact]
    public void AStageWithoutATwoFrameModelPassesFramesWithReferencesThroughAsErrors()
    {
        using var stage = new DeblurStage(_shipped.Model, _shipped.Options, NullLogger.Instance);
        using var frame = new Frame("no-two-frame", 0, TimeSpan.Zero, new Mat(64, 64, MatType.CV_8UC3, Scalar.All(90)));
        Mat reference = new(64, 64, MatType.CV_8UC3, Scalar.All(10));
        frame.AttachReference(reference);
        stage.Process(frame);
        Assert.Equal(FrameRoute.SkippedError, frame.Route);
        Assert.True(reference.IsDisposed);
        Assert.Equal(90, frame.Image.At<Vec3b>(10, 10).Item0);
    }

    [Fact]
    public async Task TheBatcherKeepsFramesWithAndWithoutReferencesApart()
    {
        var input = Channel.CreateUnbounded<Frame>();
        var output = Channel.CreateUnbounded<FrameBatch>();
        var batcher = new FrameBatcher(new BatchingOptions { MaxBatchSize = 2, MaxQueueDelayMs = 10_000 });
        Task run = batcher.RunAsync(input.Reader, output.Writer, CancellationToken.None);
        for (int i = 0; i < 4; i++)
        {
            var frame = new Frame(i % 2 == 0 ? "a" : "b", i, TimeSpan.Zero, new Mat(24, 32, MatType.CV_8UC3));
            if (i < 2)
            {
                frame.AttachReference(new Mat(24, 32, MatType.CV_8UC3));
            }

            await input.Writer.WriteAsync(frame);
        }

        input.Writer.Complete();
        await run;
        var batches = new List<FrameBatch>();
        await foreach (FrameBatch batch in output.Reader.ReadAllAsync())
        {
            batches.Add(batch);
        }

        Assert.Equal(2, batches.Count);
        Assert.All(batches, b => Assert.All(b.Frames, f => Assert.Equal(b.WithReference, f.Reference is not null)));
        Assert.Equal([false, true], batches.Select(b => b.WithReference).Order());
        foreach (Frame f in batches.SelectMany(b => b.Frames))
        {
            f.Dispose();
        }
    }

    private static StreamDeblurOptions OneStream()
    {
        var options = new StreamDeblurOptions { Streams = [new StreamOptions { Id = "a", Input = "a.mp4", Output = "a.mkv" }] };
        options.Model.Metadata = TestPaths.ModelMetadata;
        return options;
    }

    private static double Count(string stream, string outcome) => PipelineMetrics.FixedCameraReferences.WithLabels(stream, outcome).Value;

    /// <summary>A copy of a metadata file, edited, whose model file still points at the original.</summary>
    private static string RewrittenMetadata(string path, Action<JsonObject> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        json["file"] = Path.Combine(Path.GetDirectoryName(path)!, json["file"]!.GetValue<string>());
        edit(json);
        string copy = Path.Combine(TestPaths.TempDir("two-frame"), Path.GetFileName(path));
        File.WriteAllText(copy, json.ToJsonString());
        return copy;
    }
}
