using System.Threading.Channels;
using OpenCvSharp;
using StreamDeblur.Stages;
using StreamDeblur.Video.FixedCamera;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>The reference keeper on real frames of the sample clip, with the router's verdicts set by the test.</summary>
public sealed class ReferenceKeeperTests
{
    private const double Baseline = 1000;

    [Fact]
    public void HoldsOneCopyOfTheLatestConfidentlySharpFrameInOneReusedBuffer()
    {
        using ReferenceKeeperStage keeper = Keeper(out string stream);
        Mat? buffer = null;
        for (int i = 60; i < 70; i++)
        {
            using Frame frame = Judged(stream, i, blurry: false);
            keeper.Keep(frame);
            Assert.Equal(i, keeper.ReferenceSequence);
            Assert.Equal(ReferenceOutcome.NotNeeded, frame.FixedCamera!.Value.Outcome);
            Assert.Null(frame.Reference);

            // A copy, not the frame's own image: the frame goes on to the encoder and is disposed there.
            Assert.NotSame(frame.Image, keeper.ReferenceBuffer);
            Assert.NotEqual(frame.Image.Data, keeper.ReferenceBuffer.Data);
            Assert.Equal(0, Cv2.Norm(frame.Image, keeper.ReferenceBuffer, NormTypes.INF));
            buffer ??= keeper.ReferenceBuffer;
            Assert.Same(buffer, keeper.ReferenceBuffer);
        }

        IntPtr pixels = buffer!.Data;
        KeepSharp(keeper, stream, 70);
        Assert.Equal(pixels, keeper.ReferenceBuffer.Data); // the same memory is overwritten: never two frames held
        using Mat frame70 = SampleFrames.Frame(70);
        Assert.Equal(0, Cv2.Norm(frame70, keeper.ReferenceBuffer, NormTypes.INF)); // and it outlives the frame it copied
    }

    [Fact]
    public void OnlyAConfidentlySharpFrameBecomesTheReference()
    {
        using ReferenceKeeperStage keeper = Keeper(out string stream);
        KeepSharp(keeper, stream, 66);

        // Sharp enough for the router (above the exit ratio), not sure enough to be a reference.
        using (Frame softer = Judged(stream, 67, blurry: false, sharpness: 0.7 * Baseline))
        {
            keeper.Keep(softer);
        }

        Assert.Equal(66, keeper.ReferenceSequence);

        // In a scene too dark to judge (the baseline under blur.absolute_floor), nothing is taken.
        using ReferenceKeeperStage darkKeeper = Keeper(out string dark);
        using Frame darkFrame = Judged(dark, 66, blurry: false, sharpness: 10, baseline: 10);
        darkKeeper.Keep(darkFrame);
        Assert.Null(darkKeeper.ReferenceSequence);
    }

    [Fact]
    public void GivesABlurryFrameAnAlignedCopyThatTheFrameOwns()
    {
        using ReferenceKeeperStage keeper = Keeper(out string stream);
        KeepSharp(keeper, stream, 26);

        Mat reference;
        using (Frame blurry = Judged(stream, 30, blurry: true))
        {
            keeper.Keep(blurry);
            FixedCameraInfo info = blurry.FixedCamera!.Value;
            Assert.Equal(ReferenceOutcome.Used, info.Outcome);
            Assert.Equal(400, info.ReferenceAgeMs, precision: 6);
            Assert.Equal(4, info.ReferenceAgeFrames);
            Assert.InRange(info.AlignmentQuality, 0.8, 1);
            reference = blurry.Reference!;
            Assert.NotNull(reference);
            Assert.Equal((blurry.Size, MatType.CV_8UC3), (reference.Size(), reference.Type()));
            Assert.NotEqual(keeper.ReferenceBuffer.Data, reference.Data);
            Assert.Equal(26, keeper.ReferenceSequence); // a blurry frame never replaces it
        }

        Assert.True(reference.IsDisposed, "disposing the frame must dispose its reference");
    }

    [Fact]
    public void DropsTheReferenceOnACut()
    {
        using ReferenceKeeperStage keeper = Keeper(out string stream);
        KeepSharp(keeper, stream, 26);

        using Mat photo = ReferenceAlignerTests.AnotherScene(new Size(768, 576));
        using Mat kernel = SampleFrames.ShakeKernel(9, 15);
        using var cut = new Frame(stream, 27, TimeSpan.FromMilliseconds(2700), SampleFrames.Blur(photo, kernel))
        {
            Blur = new BlurMeasurement(100, 0, 0, 0, Baseline, IsBlurry: true),
        };
        keeper.Keep(cut);
        Assert.Null(keeper.ReferenceSequence);
        Assert.Equal(ReferenceOutcome.Absent, cut.FixedCamera!.Value.Outcome);
        Assert.Null(cut.Reference);
        Assert.Equal(1, Drops(stream, "scene_change"));
        Assert.Equal(0, Drops(stream, "lighting"));
    }

    [Fact]
    public void DropsTheReferenceOnAPtzMove()
    {
        using ReferenceKeeperStage keeper = Keeper(out string stream);
        KeepSharp(keeper, stream, 26);

        // The camera pans by a tenth of the view during a blurry stretch: the view still correlates at thumbnail size,
        // but the alignment finds a shift no shaking mount makes.
        using Mat frame = SampleFrames.Frame(27);
        using Mat panned = ReferenceAlignerTests.Transform(frame, 0, 0.1 * frame.Width, 0);
        using Mat kernel = SampleFrames.ShakeKernel(27, 15);
        using var moving = new Frame(stream, 27, TimeSpan.FromMilliseconds(2700), SampleFrames.Blur(panned, kernel))
        {
            Blur = new BlurMeasurement(100, 0, 0, 0, Baseline, IsBlurry: true),
        };
        keeper.Keep(moving);
        Assert.Equal(ReferenceOutcome.Unaligned, moving.FixedCamera!.Value.Outcome);
        Assert.Null(moving.Reference);
        Assert.Null(keeper.ReferenceSequence);
        Assert.Equal(1, Drops(stream, "scene_change"));

        using Frame next = Judged(stream, 28, blurry: true);
        keeper.Keep(next);
        Assert.Equal(ReferenceOutcome.Absent, next.FixedCamera!.Value.Outcome);
    }

    [Fact]
    public void DropsTheReferenceOnALightingJump()
    {
        using ReferenceKeeperStage keeper = Keeper(out string stream);
        KeepSharp(keeper, stream, 26);

        // The same view, lights on: +40 levels. The thumbnails still correlate; the mean luma jumped.
        using Frame lit = Judged(stream, 27, blurry: true);
        Cv2.Add(lit.Image, Scalar.All(40), lit.Image);
        keeper.Keep(lit);
        Assert.Null(keeper.ReferenceSequence);
        Assert.Equal(ReferenceOutcome.Absent, lit.FixedCamera!.Value.Outcome);
        Assert.Equal(1, Drops(stream, "lighting"));

        // A small change of light is not a jump.
        using ReferenceKeeperStage steady = Keeper(out string steadyStream);
        KeepSharp(steady, steadyStream, 26);

        using Frame dimmer = Judged(steadyStream, 27, blurry: true);
        Cv2.Subtract(dimmer.Image, Scalar.All(6), dimmer.Image);
        steady.Keep(dimmer);
        Assert.Equal(ReferenceOutcome.Used, dimmer.FixedCamera!.Value.Outcome);
        Assert.Equal(0, Drops(steadyStream, "lighting"));
    }

    [Fact]
    public void DropsAStaleReferenceByStreamTimeOrByFrames()
    {
        using ReferenceKeeperStage keeper = Keeper(out string stream);
        KeepSharp(keeper, stream, 26);

        // 3 s is the limit: 2.9 s later it is used, 3.1 s later it is stale, and stays so until a new one.
        using Frame young = Judged(stream, 27, blurry: true, at: TimeSpan.FromSeconds(2.6 + 2.9));
        keeper.Keep(young);
        Assert.Equal(ReferenceOutcome.Used, young.FixedCamera!.Value.Outcome);
        using Frame old = Judged(stream, 28, blurry: true, at: TimeSpan.FromSeconds(2.6 + 3.1));
        keeper.Keep(old);
        Assert.Equal(ReferenceOutcome.Stale, old.FixedCamera!.Value.Outcome);
        Assert.Null(old.Reference);
        Assert.Null(keeper.ReferenceSequence);
        using Frame later = Judged(stream, 29, blurry: true, at: TimeSpan.FromSeconds(6));
        keeper.Keep(later);
        Assert.Equal(ReferenceOutcome.Stale, later.FixedCamera!.Value.Outcome);
        Assert.Equal(1, Drops(stream, "age"));

        KeepSharp(keeper, stream, 42, at: TimeSpan.FromSeconds(6.1));

        using Frame fresh = Judged(stream, 51, blurry: true, at: TimeSpan.FromSeconds(6.5));
        keeper.Keep(fresh);
        Assert.Equal(ReferenceOutcome.Used, fresh.FixedCamera!.Value.Outcome);

        // A live stream that reconnects may restart its timestamps: a reference "from the future" is dropped too.
        KeepSharp(keeper, stream, 66, at: TimeSpan.FromSeconds(7));
        using Frame restarted = Judged(stream, 67, blurry: true, at: TimeSpan.FromSeconds(0.1));
        keeper.Keep(restarted);
        Assert.Equal(ReferenceOutcome.Stale, restarted.FixedCamera!.Value.Outcome);
        Assert.Equal(2, Drops(stream, "age"));

        using ReferenceKeeperStage byFrames = Keeper(out string framesStream, new FixedCameraOptions { MaxAgeFrames = 3 });
        KeepSharp(byFrames, framesStream, 26);

        using Frame third = Judged(framesStream, 29, blurry: true);
        byFrames.Keep(third);
        Assert.Equal(ReferenceOutcome.Used, third.FixedCamera!.Value.Outcome);
        using Frame fourth = Judged(framesStream, 30, blurry: true);
        byFrames.Keep(fourth);
        Assert.Equal(ReferenceOutcome.Stale, fourth.FixedCamera!.Value.Outcome);
    }

    [Fact]
    public void AFrameThatIsNotNewerThanTheReferenceNeitherReplacesNorUsesIt()
    {
        using ReferenceKeeperStage keeper = Keeper(out string stream);
        KeepSharp(keeper, stream, 70);

        KeepSharp(keeper, stream, 66); // older than the reference

        Assert.Equal(70, keeper.ReferenceSequence);
        using Frame olderBlurry = Judged(stream, 68, blurry: true);
        keeper.Keep(olderBlurry);
        Assert.Null(olderBlurry.Reference); // a later frame is never painted into an earlier one
        Assert.Equal(ReferenceOutcome.Absent, olderBlurry.FixedCamera!.Value.Outcome);
        Assert.Equal(70, keeper.ReferenceSequence);
    }

    [Fact]
    public void ALiveFrameTooLateForTheNetworkIsNotAligned()
    {
        string stream = "keeper-live-" + Guid.NewGuid().ToString("N")[..6];
        // A zero latency budget: every live frame is already late, so the live policy will pass it through.
        using var keeper = new ReferenceKeeperStage(stream, new FixedCameraOptions(), new BlurOptions(), new RouteDispatcher(stream, isLive: true, TimeSpan.Zero));
        KeepSharp(keeper, stream, 26);
        Assert.Equal(26, keeper.ReferenceSequence); // sharp frames are still kept
        using Frame late = Judged(stream, 30, blurry: true);
        keeper.Keep(late);
        Assert.Null(late.Reference);
        Assert.Equal(ReferenceOutcome.NotNeeded, late.FixedCamera!.Value.Outcome);
        Assert.Equal(0, late.FixedCamera!.Value.AlignSeconds);
    }

    /// <summary>
    /// A live keeper never runs a verification of unknown cost on its own thread: the first live frame with a reference
    /// is counted as measuring and handed on unverified at once, while a probe times a verification off the thread; once
    /// the probe has measured a cost that fits the frame interval, the keeper verifies. A stream whose frames come
    /// faster than verifying costs is counted over budget instead.
    /// </summary>
    [Theory]
    [InlineData(10.0)]
    [InlineData(0.001)]
    public void ALiveKeeperMeasuresWhatVerifyingCostsBeforeItVerifies(double secondsPerFrame)
    {
        string stream = "keeper-probe-" + Guid.NewGuid().ToString("N")[..6];
        double Skipped(string reason) => PipelineMetrics.FixedCameraVerificationsSkipped.WithLabels(stream, reason).Value;
        TimeSpan At(int index) => TimeSpan.FromSeconds(index * secondsPerFrame);
        using var keeper = new ReferenceKeeperStage(stream, new FixedCameraOptions { MaxAgeSeconds = 3600 }, new BlurOptions(),
            new RouteDispatcher(stream, isLive: true, TimeSpan.FromSeconds(1000)));
        KeepSharp(keeper, stream, 25, At(25));
        KeepSharp(keeper, stream, 26, At(26));

        using Frame first = Judged(stream, 27, blurry: true, at: At(27));
        keeper.Keep(first);
        Assert.Equal(ReferenceOutcome.Used, first.FixedCamera!.Value.Outcome);
        Assert.True(double.IsNaN(first.FixedCamera!.Value.VerifiedFraction), "the first live frame was verified before the cost was known");
        Assert.Null(first.Verified);
        Assert.Equal(1, Skipped("measuring"));
        Assert.Equal(0, PipelineMetrics.FixedCameraVerified.WithLabels(stream).Count);

        // Later frames: once the probe has finished, a frame interval of 10 s fits; one of 1 ms does not.
        var verified = new List<double>();
        for (int i = 28; i < 42 && verified.Count == 0 && Skipped("over_budget") == 0; i++)
        {
            Thread.Sleep(500);
            using Frame next = Judged(stream, i, blurry: true, at: At(i));
            keeper.Keep(next);
            if (!double.IsNaN(next.FixedCamera!.Value.VerifiedFraction))
            {
                verified.Add(next.FixedCamera!.Value.VerifiedFraction);
            }
        }

        if (secondsPerFrame >= 1)
        {
            Assert.NotEmpty(verified);
            Assert.Equal(0, Skipped("over_budget"));
        }
        else
        {
            Assert.Empty(verified);
            Assert.Equal(1, Skipped("over_budget"));
        }
    }

    [Fact]
    public void FailedAlignmentFallsBackAndIsCounted()
    {
        // A strict quality floor that a real burst frame 15 frames after its reference does not reach.
        using ReferenceKeeperStage keeper = Keeper(out string stream, new FixedCameraOptions { MinAlignmentQuality = 0.99 });
        KeepSharp(keeper, stream, 26);

        using Frame blurry = Judged(stream, 41, blurry: true);
        keeper.Keep(blurry);
        FixedCameraInfo info = blurry.FixedCamera!.Value;
        Assert.Equal(ReferenceOutcome.Unaligned, info.Outcome);
        Assert.InRange(info.AlignmentQuality, 0.5, 0.99);
        Assert.Null(blurry.Reference);
        Assert.Equal(26, keeper.ReferenceSequence); // kept for the next frame
    }

    /// <summary>
    /// Router, keeper, a deblur path that returns frames late and in reverse pairs, reorder and a sink: the keeper
    /// sees the stream in order, so every blurry frame gets the last confidently sharp frame before it.
    /// </summary>
    [Fact]
    public async Task FramesReturningOutOfOrderAfterDeblurringDoNotDisturbIt()
    {
        string stream = "keeper-order-" + Guid.NewGuid().ToString("N")[..6];
        var scored = Channel.CreateUnbounded<Frame>();
        var judged = Channel.CreateBounded<Frame>(4);
        var blurry = Channel.CreateUnbounded<Frame>();
        var ordered = Channel.CreateBounded<Frame>(4);
        var tail = new StreamTail(stream, 4);
        var sink = new RecordingSink();
        var router = new RouterStage(stream, new BlurOptions(), isLive: false, TimeSpan.FromSeconds(1));
        using var keeper = new ReferenceKeeperStage(stream, new FixedCameraOptions(), new BlurOptions(), new RouteDispatcher(stream, false, TimeSpan.FromSeconds(1)));

        Task route = router.RunAsync(scored.Reader, judged.Writer, CancellationToken.None);
        Task keep = keeper.RunAsync(judged.Reader, tail, blurry.Writer, CancellationToken.None)
            .ContinueWith(_ => blurry.Writer.TryComplete(), TaskScheduler.Default);
        Task reorder = new ReorderStage(stream).RunAsync(tail, ordered.Writer, CancellationToken.None);
        Task encode = new EncoderStage(stream, [sink], report: null).RunAsync(ordered.Reader, CancellationToken.None);
        Task deblur = OutOfOrderDeblur.RunAsync(blurry.Reader, tail);

        // Frames 20..70 of the sample, scored as they really are: sharp outside its bursts, blurry inside.
        for (int i = 20; i < 71; i++)
        {
            var frame = new Frame(stream, i, TimeSpan.FromMilliseconds(i * 100), SampleFrames.Frame(i))
            {
                Blur = new BlurMeasurement(SampleFrames.IsSharp(i) ? Baseline : 100, 0, 0, 0, 0, false),
            };
            await scored.Writer.WriteAsync(frame);
        }

        scored.Writer.Complete();
        await Task.WhenAll(route, keep, reorder, encode, deblur).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(Enumerable.Range(20, 51).Select(i => (long)i), sink.Written.Select(w => w.Sequence));
        foreach ((long sequence, FixedCameraInfo info) in sink.Written.Where(w => !SampleFrames.IsSharp((int)w.Sequence)))
        {
            long lastSharp = Enumerable.Range(20, (int)sequence - 20).Last(SampleFrames.IsSharp);
            Assert.Equal(sequence - lastSharp, info.ReferenceAgeFrames);
            Assert.Equal(ReferenceOutcome.Used, info.Outcome);
        }

        Assert.Equal(Enumerable.Range(20, 51).Last(SampleFrames.IsSharp), keeper.ReferenceSequence);
    }

    private sealed class RecordingSink : IFrameSink
    {
        public List<(long Sequence, FixedCameraInfo Info)> Written { get; } = [];

        public void Write(Frame frame) => Written.Add((frame.Sequence, frame.FixedCamera!.Value));

        public void Complete()
        {
        }

        public void Dispose()
        {
        }
    }

    private static ReferenceKeeperStage Keeper(out string stream, FixedCameraOptions? options = null)
    {
        stream = "keeper-" + Guid.NewGuid().ToString("N")[..8];
        return new ReferenceKeeperStage(stream, options ?? new FixedCameraOptions(), new BlurOptions(), new RouteDispatcher(stream, false, TimeSpan.FromSeconds(1)));
    }

    /// <summary>Sample frame <paramref name="index"/> as the router would hand it on, at 10 fps unless <paramref name="at"/> says otherwise.</summary>
    private static Frame Judged(string stream, int index, bool blurry, double sharpness = Baseline, double baseline = Baseline, TimeSpan? at = null) =>
        new(stream, index, at ?? TimeSpan.FromMilliseconds(index * 100), SampleFrames.Frame(index))
        {
            Blur = new BlurMeasurement(blurry ? 0.2 * baseline : sharpness, 0, 0, 0, baseline, blurry),
        };

    /// <summary>Hands the keeper sample frame <paramref name="index"/>, judged confidently sharp, and disposes it as the encoder would.</summary>
    private static void KeepSharp(ReferenceKeeperStage keeper, string stream, int index, TimeSpan? at = null)
    {
        using Frame sharp = Judged(stream, index, blurry: false, at: at);
        keeper.Keep(sharp);
    }

    private static double Drops(string stream, string reason) => PipelineMetrics.FixedCameraReferenceDrops.WithLabels(stream, reason).Value;
}
