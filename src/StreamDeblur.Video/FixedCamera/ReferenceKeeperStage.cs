using System.Diagnostics;
using System.Threading.Channels;
using OpenCvSharp;
using StreamDeblur.Stages;

namespace StreamDeblur.Video.FixedCamera;

/// <summary>
/// Fixed-camera mode's reference keeper, one per stream. It sits after the router and before the shared
/// batcher, where the stream's frames are still in order, and then routes each frame on as the router would.
/// <list type="bullet">
/// <item>It keeps a copy of the most recent frame judged confidently sharp (sharpness at least
/// baseline × <see cref="FixedCameraOptions.ReferenceSharpnessRatio"/>), with its timestamp and sequence
/// number: one frame per stream, in one reused buffer.</item>
/// <item>It drops the reference when it grows too old, or on a scene change: a mean-luma jump (lighting),
/// thumbnails that no longer correlate (a cut, a PTZ move), or an alignment shift over the limit (a PTZ move).</item>
/// <item>To a blurry frame it hands an aligned copy of the reference (<see cref="ReferenceAligner"/>), which the
/// frame owns; a failed or poor alignment hands nothing, and the frame is deblurred single-frame.</item>
/// <item>With verified fusion on, it also measures the blur between the aligned reference and the frame and hands
/// the frame the part of it that is provably the reference seen through that blur (<see cref="ReferenceVerifier"/>).
/// A live frame skips this when it is already behind (late, or with frames queued behind it), and while verifying is
/// not known to fit the stream's frame interval (<see cref="VerificationCostProbe"/> measures it off this thread), so
/// that the source does not drop frames.</item>
/// </list>
/// Frames reach it in source order (deblurred frames return to their stream after it), and a frame that is
/// not newer than the reference is never compared with it, so a reference never travels back in time.
/// </summary>
public sealed class ReferenceKeeperStage : IDisposable
{
    private readonly string _streamId;
    private readonly FixedCameraOptions _options;
    private readonly BlurOptions _blur;
    private readonly RouteDispatcher _dispatcher;
    private readonly ReferenceAligner _aligner;
    private readonly ReferenceVerifier _verifier;
    private ChannelReader<Frame>? _judged; // the keeper's input, to tell when a live stream's keeper is behind

    /// <summary>The weight of the latest sample in the running estimates of a verification's cost and of the frame interval.</summary>
    private const double Smoothing = 0.2;

    /// <summary>How often, in stream time, a live stream whose verification is over budget measures its cost again.</summary>
    private static readonly TimeSpan s_reprobeInterval = TimeSpan.FromSeconds(30);

    private readonly VerificationCostProbe _probe;
    private TimeSpan? _lastProbeTimestamp;
    private double _verifySeconds = double.NaN; // what a verification has cost this stream (smoothed); NaN until measured
    private double _frameIntervalSeconds = double.NaN; // between the stream's frames (smoothed); NaN until two frames
    private TimeSpan? _lastTimestamp;

    // The reference: its pixels in the layout it was decoded in, where it came from, and what is derived from it.
    private readonly Mat _reference = new();
    private readonly Mat _referenceScene = new();
    private readonly Mat _referenceLuma = new();
    private readonly Mat _referenceBgr = new();
    private bool _hasReference;
    private bool _referenceLumaReady;
    private bool _referenceBgrReady;
    private PixelLayout _referenceLayout;
    private Size _referenceSize;
    private long _referenceSequence;
    private TimeSpan _referenceTimestamp;
    private double _referenceMean;
    private bool _droppedForAge;

    // Scratch for the current frame.
    private readonly Mat _scene = new();
    private long _sceneSequence = -1;
    private readonly Mat _luma = new();
    private readonly Mat _frameBgr = new();

    public ReferenceKeeperStage(string streamId, FixedCameraOptions options, BlurOptions blur, RouteDispatcher dispatcher)
    {
        _streamId = streamId;
        _options = options;
        _blur = blur;
        _dispatcher = dispatcher;
        _aligner = new ReferenceAligner(options);
        _verifier = new ReferenceVerifier(options);
        _probe = new VerificationCostProbe(options);
    }

    /// <summary>The sequence number of the frame held as the reference, or null when none is held.</summary>
    public long? ReferenceSequence => _hasReference ? _referenceSequence : null;

    /// <summary>The buffer that holds the reference's pixels (reused for every new reference); for tests.</summary>
    internal Mat ReferenceBuffer => _reference;

    /// <summary>Keeps, drops or hands out the reference for each judged frame, then routes the frame.</summary>
    public Task RunAsync(ChannelReader<Frame> judged, StreamTail tail, ChannelWriter<Frame> blurry, CancellationToken cancellationToken)
    {
        _judged = judged;
        return _dispatcher.RunAsync(judged, tail, blurry, Keep, cancellationToken);
    }

    /// <summary>
    /// The keeper's work on one judged frame, in stream order: drops a stale or mismatched reference, takes
    /// a confidently sharp frame as the new reference, or gives a blurry frame an aligned copy. Sets
    /// <see cref="Frame.FixedCamera"/>.
    /// </summary>
    public void Keep(Frame frame)
    {
        if (_lastTimestamp is TimeSpan last && frame.Timestamp > last)
        {
            _frameIntervalSeconds = Smoothed(_frameIntervalSeconds, (frame.Timestamp - last).TotalSeconds);
        }

        _lastTimestamp = frame.Timestamp;
        bool newer = !_hasReference || frame.Sequence > _referenceSequence;
        if (_hasReference && newer)
        {
            DropIfStaleOrChanged(frame);
        }

        if (!frame.Blur.IsBlurry)
        {
            frame.FixedCamera = FixedCameraInfo.NotNeeded;
            if (newer && IsConfidentlySharp(frame))
            {
                Store(frame);
            }

            return;
        }

        if (_dispatcher.IsLate(frame))
        {
            // The live policy passes it through without the network: aligning it would only make the frames behind it later.
            frame.FixedCamera = FixedCameraInfo.NotNeeded;
            return;
        }

        if (!_hasReference || !newer)
        {
            frame.FixedCamera = new FixedCameraInfo(_droppedForAge && newer ? ReferenceOutcome.Stale : ReferenceOutcome.Absent, double.NaN, -1, double.NaN, 0);
            return;
        }

        frame.FixedCamera = AlignAndAttach(frame);
    }

    private bool IsConfidentlySharp(Frame frame) =>
        frame.Blur.Baseline >= _blur.AbsoluteFloor && frame.Blur.Sharpness >= frame.Blur.Baseline * _options.ReferenceSharpnessRatio;

    private void DropIfStaleOrChanged(Frame frame)
    {
        double ageSeconds = (frame.Timestamp - _referenceTimestamp).TotalSeconds;
        long ageFrames = frame.Sequence - _referenceSequence;
        // A timestamp that went backwards means the stream restarted (a live reconnect): that reference is stale too.
        if (ageSeconds > _options.MaxAgeSeconds || ageSeconds < 0 || (_options.MaxAgeFrames > 0 && ageFrames > _options.MaxAgeFrames))
        {
            Drop("age");
            _droppedForAge = true;
            return;
        }

        if (frame.Size != _referenceSize)
        {
            Drop("scene_change");
            return;
        }

        Mat scene = SceneOf(frame);
        if (Math.Abs(LumaThumbnail.Mean(scene) - _referenceMean) > _options.MaxLumaJump)
        {
            Drop("lighting");
        }
        else if (LumaThumbnail.Correlation(scene, _referenceScene) < _options.MinSceneCorrelation)
        {
            Drop("scene_change");
        }
    }

    private void Drop(string reason)
    {
        _hasReference = false;
        PipelineMetrics.FixedCameraReferenceDrops.WithLabels(_streamId, reason).Inc();
    }

    /// <summary>Copies the frame into the reference buffer (reused while the size and layout stay the same).</summary>
    private void Store(Frame frame)
    {
        frame.Image.CopyTo(_reference);
        SceneOf(frame).CopyTo(_referenceScene);
        _referenceMean = LumaThumbnail.Mean(_referenceScene);
        _referenceLayout = frame.Layout;
        _referenceSize = frame.Size;
        _referenceSequence = frame.Sequence;
        _referenceTimestamp = frame.Timestamp;
        _referenceLumaReady = false;
        _referenceBgrReady = false;
        _hasReference = true;
        _droppedForAge = false;
    }

    /// <summary>The frame's scene thumbnail, made at most once per frame.</summary>
    private Mat SceneOf(Frame frame)
    {
        if (_sceneSequence != frame.Sequence)
        {
            LumaThumbnail.Scene(frame, _scene);
            _sceneSequence = frame.Sequence;
        }

        return _scene;
    }

    private FixedCameraInfo AlignAndAttach(Frame frame)
    {
        long start = Stopwatch.GetTimestamp();
        double ageMs = (frame.Timestamp - _referenceTimestamp).TotalMilliseconds;
        long ageFrames = frame.Sequence - _referenceSequence;
        if (!_referenceLumaReady)
        {
            _aligner.PrepareLuma(_reference, _referenceLayout, _referenceLuma, ReferenceAligner.ReferenceBlurSigma);
            _referenceLumaReady = true;
        }

        _aligner.PrepareLuma(frame, _luma);
        Alignment alignment = _aligner.Estimate(_referenceLuma, _luma, frame.Size);
        ReferenceOutcome outcome = ReferenceOutcome.Unaligned;
        if (alignment.Succeeded)
        {
            if (_options.TwoFrameNetwork)
            {
                frame.AttachReference(ReferenceAligner.Warp(ReferenceBgr(), alignment, frame.Size));
            }

            outcome = ReferenceOutcome.Used;
        }
        else if (alignment.CameraMoved)
        {
            Drop("scene_change"); // a PTZ move: the reference shows another view now
        }

        PipelineMetrics.StageDuration.WithLabels("align").Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);
        double verified = outcome == ReferenceOutcome.Used && _options.VerifiedFusion ? VerifyAndAttach(frame, alignment) : double.NaN;
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return new FixedCameraInfo(outcome, ageMs, ageFrames, alignment.Quality, seconds, verified);
    }

    /// <summary>Verified fusion for a frame that carries its aligned reference; the verified fraction, or NaN when skipped.</summary>
    private double VerifyAndAttach(Frame frame, Alignment alignment)
    {
        if (_dispatcher.IsLive && !_options.VerifyLive)
        {
            PipelineMetrics.FixedCameraVerificationsSkipped.WithLabels(_streamId, "live").Inc();
            return double.NaN;
        }

        if (_dispatcher.IsBehind(frame, _judged))
        {
            PipelineMetrics.FixedCameraVerificationsSkipped.WithLabels(_streamId, "behind").Inc();
            return double.NaN;
        }

        if (_dispatcher.IsLive && LiveSkipReason(frame, alignment) is string skipped)
        {
            PipelineMetrics.FixedCameraVerificationsSkipped.WithLabels(_streamId, skipped).Inc();
            return double.NaN;
        }

        long start = Stopwatch.GetTimestamp();
        Mat bgr = frame.PixelsAs(PixelLayout.Bgr24, frame.Size, _frameBgr);
        using Mat reference = ReferenceAligner.WarpForDetail(ReferenceBgr(), alignment, frame.Size);
        (VerifiedReference? result, double fraction, string? failure) = _verifier.Verify(bgr, reference);
        double took = Stopwatch.GetElapsedTime(start).TotalSeconds;
        PipelineMetrics.StageDuration.WithLabels("verify").Observe(took);
        _verifySeconds = Smoothed(_verifySeconds, took);
        if (failure is not null)
        {
            PipelineMetrics.FixedCameraVerificationsSkipped.WithLabels(_streamId, "no_kernel").Inc();
            return double.NaN;
        }

        PipelineMetrics.FixedCameraVerified.WithLabels(_streamId).Observe(fraction);
        if (result is not null)
        {
            frame.AttachVerified(result);
        }

        return fraction;
    }

    /// <summary>
    /// Why a live frame may not be verified on the keeper's thread, or null when it may: only once a probe off the
    /// thread has measured what verifying costs (until then "measuring"), and while that cost fits the stream's frame
    /// interval (else "over_budget"). An over-budget stream is probed again every <see cref="s_reprobeInterval"/> of
    /// stream time, and at once after its timestamps restart (a reconnect), since the machine's load or the stream may
    /// have changed. A skipped frame costs the keeper no conversion or warp, except the copies that start a probe.
    /// </summary>
    private string? LiveSkipReason(Frame frame, Alignment alignment)
    {
        if (_probe.TryTakeResult(out double probed))
        {
            _verifySeconds = probed;
        }

        bool overBudget = _verifySeconds > _frameIntervalSeconds; // false while either is still unmeasured (NaN)
        bool due = _lastProbeTimestamp is not TimeSpan last || frame.Timestamp < last || frame.Timestamp - last >= s_reprobeInterval;
        if ((double.IsNaN(_verifySeconds) || overBudget) && due && !_probe.IsRunning)
        {
            _probe.Start(frame.PixelsAs(PixelLayout.Bgr24, frame.Size, _frameBgr).Clone(),
                ReferenceAligner.WarpForDetail(ReferenceBgr(), alignment, frame.Size));
            _lastProbeTimestamp = frame.Timestamp;
        }

        return double.IsNaN(_verifySeconds) ? "measuring" : overBudget ? "over_budget" : null;
    }

    /// <summary>An exponential running mean: the first sample itself, then <see cref="Smoothing"/> of each new one.</summary>
    private static double Smoothed(double estimate, double sample) => double.IsNaN(estimate) ? sample : estimate + (Smoothing * (sample - estimate));

    /// <summary>The reference as BGR: the buffer itself, or (I420) a conversion made once per reference.</summary>
    private Mat ReferenceBgr()
    {
        if (_referenceLayout == PixelLayout.Bgr24)
        {
            return _reference;
        }

        if (!_referenceBgrReady)
        {
            Cv2.CvtColor(_reference, _referenceBgr, ColorConversionCodes.YUV2BGR_I420);
            _referenceBgrReady = true;
        }

        return _referenceBgr;
    }

    public void Dispose()
    {
        _probe.Dispose();
        _aligner.Dispose();
        _verifier.Dispose();
        _frameBgr.Dispose();
        _reference.Dispose();
        _referenceScene.Dispose();
        _referenceLuma.Dispose();
        _referenceBgr.Dispose();
        _scene.Dispose();
        _luma.Dispose();
    }
}
