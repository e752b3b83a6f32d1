using Prometheus;

namespace StreamDeblur;

/// <summary>
/// Every Prometheus metric the worker exports. Names follow the Prometheus rules: a streamdeblur_ prefix,
/// base units, _total on counters, and low-cardinality labels (stream id, stage, reason, queue).
/// </summary>
public static class PipelineMetrics
{
    // Runs first (static fields initialise in order): keep the process_* metrics, but drop prometheus-net's
    // EventCounter/Meter adapters and debug metrics, whose names break Prometheus naming (promtool check metrics).
    private static readonly bool s_defaultsSuppressed = SuppressNoisyDefaults();

    private static readonly double[] s_latencyBuckets = Histogram.ExponentialBuckets(0.0005, 2, 16); // 0.5 ms .. 16 s

    public static readonly Counter FramesRead = Metrics.CreateCounter(
        "streamdeblur_frames_read_total", "Frames decoded from the source.", "stream");

    public static readonly Counter FramesPassed = Metrics.CreateCounter(
        "streamdeblur_frames_passed_total", "Frames judged sharp and passed through untouched.", "stream");

    public static readonly Counter FramesDeblurred = Metrics.CreateCounter(
        "streamdeblur_frames_deblurred_total", "Frames judged blurry and run through the network.", "stream");

    public static readonly Counter FramesSkipped = Metrics.CreateCounter(
        "streamdeblur_frames_deblur_skipped_total", "Blurry frames passed through without deblurring, by reason (overload, error).", "stream", "reason");

    public static readonly Counter FramesDropped = Metrics.CreateCounter(
        "streamdeblur_frames_dropped_total", "Frames dropped, by reason: queue_full, stream_failed and shutdown frames were never written; forward_queue_full, forward_unavailable and forward_error frames are missing from the live forward only.", "stream", "reason");

    public static readonly Counter FramesWritten = Metrics.CreateCounter(
        "streamdeblur_frames_written_total", "Frames written to the stream's outputs.", "stream");

    public static readonly Histogram Sharpness = Metrics.CreateHistogram(
        "streamdeblur_blur_sharpness", "Blur score of each frame: variance of the Laplacian of downscaled luma (lower is blurrier).",
        new HistogramConfiguration { LabelNames = ["stream"], Buckets = Histogram.ExponentialBuckets(1, 2, 14) });

    public static readonly Histogram StageDuration = Metrics.CreateHistogram(
        "streamdeblur_stage_duration_seconds", "Time a stage spends on one frame (one batch for the deblur stage).",
        new HistogramConfiguration { LabelNames = ["stage"], Buckets = s_latencyBuckets });

    public static readonly Histogram FrameLatency = Metrics.CreateHistogram(
        "streamdeblur_frame_latency_seconds", "Time from capture to output, per frame.",
        new HistogramConfiguration { LabelNames = ["stream"], Buckets = s_latencyBuckets });

    public static readonly Histogram BatchSize = Metrics.CreateHistogram(
        "streamdeblur_batch_size_frames", "Frames per inference batch.",
        new HistogramConfiguration { Buckets = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64] });

    public static readonly Gauge QueueDepth = Metrics.CreateGauge(
        "streamdeblur_queue_depth_frames", "Items waiting in each bounded channel between stages.", "queue", "stream");

    public static readonly Counter Reconnects = Metrics.CreateCounter(
        "streamdeblur_reconnects_total", "Reconnect attempts of live sources.", "stream");

    public static readonly Counter StreamTransitions = Metrics.CreateCounter(
        "streamdeblur_stream_transitions_total", "Source state changes, by the state entered.", "stream", "state");

    public static readonly Gauge StreamUp = Metrics.CreateGauge(
        "streamdeblur_stream_up", "1 while the stream's source is delivering frames, else 0.", "stream");

    public static readonly Gauge InferenceInfo = Metrics.CreateGauge(
        "streamdeblur_inference_info", "The execution provider in use (value is always 1).", "provider", "requested", "model");

    public static readonly Counter Errors = Metrics.CreateCounter(
        "streamdeblur_errors_total", "Errors by stage.", "stream", "stage");

    /// <summary>The outcomes of <see cref="FixedCameraReferences"/>; they add up to the stream's deblurred frames.</summary>
    public static readonly string[] ReferenceOutcomes = ["used", "stale", "unaligned", "absent"];

    /// <summary>The reasons of <see cref="FixedCameraReferenceDrops"/>.</summary>
    public static readonly string[] ReferenceDropReasons = ["scene_change", "lighting", "age"];

    public static readonly Counter FixedCameraReferences = Metrics.CreateCounter(
        "streamdeblur_fixed_camera_references_total",
        "Deblurred frames of fixed-camera streams by what the reference keeper had for them: used (an aligned sharp reference went to the two-frame network), stale (the last reference was over the age limit), unaligned (alignment failed or was poor) and absent (none); all but used were deblurred single-frame.",
        "stream", "outcome");

    public static readonly Counter FixedCameraReferenceDrops = Metrics.CreateCounter(
        "streamdeblur_fixed_camera_reference_drops_total",
        "References dropped by the keeper, by reason: scene_change (a cut or a camera move), lighting (a mean-luma jump), age.",
        "stream", "reason");

    public static readonly Histogram SharpnessGain = Metrics.CreateHistogram(
        "streamdeblur_deblur_sharpness_gain_ratio",
        "Blur score after deblurring over the score before, per deblurred frame of fixed-camera streams, by whether a reference was used.",
        new HistogramConfiguration { LabelNames = ["stream", "reference"], Buckets = [0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4, 6, 8, 12, 16] });

    public static readonly Histogram FixedCameraVerified = Metrics.CreateHistogram(
        "streamdeblur_fixed_camera_verified_ratio",
        "Per frame deblurred with a reference: the share of the frame that verified fusion proved to be the reference seen through one blur (restored from the frame itself there; the rest is the network's).",
        new HistogramConfiguration { LabelNames = ["stream"], Buckets = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95] });

    public static readonly Counter FixedCameraVerificationsSkipped = Metrics.CreateCounter(
        "streamdeblur_fixed_camera_verifications_skipped_total",
        "Frames with an aligned reference whose verified fusion was skipped: a live stream with verify_live off, a live stream's keeper behind its source, its cost still being measured, verifying slower than a live stream's frame interval, or no blur kernel measured.",
        "stream", "reason");

    /// <summary>The reasons of <see cref="FixedCameraVerificationsSkipped"/>.</summary>
    public static readonly string[] VerificationSkipReasons = ["live", "behind", "measuring", "over_budget", "no_kernel"];

    /// <summary>Publishes a fixed-camera stream's counters at zero, as <see cref="InitialiseStream"/> does.</summary>
    public static void InitialiseFixedCamera(string streamId)
    {
        foreach (string outcome in ReferenceOutcomes)
        {
            FixedCameraReferences.WithLabels(streamId, outcome).IncTo(0);
        }

        foreach (string reason in ReferenceDropReasons)
        {
            FixedCameraReferenceDrops.WithLabels(streamId, reason).IncTo(0);
        }

        foreach (string reason in VerificationSkipReasons)
        {
            FixedCameraVerificationsSkipped.WithLabels(streamId, reason).IncTo(0);
        }
    }

    public static readonly Gauge ShardInfo = Metrics.CreateGauge(
        "streamdeblur_shard_info", "This replica's shard index and the number of shards (value is always 1; 0 of 1 when not sharded).", "shard", "shard_count");

    public static readonly Gauge ShardStreams = Metrics.CreateGauge(
        "streamdeblur_shard_streams", "Streams (or files) this replica's shard holds; sum() over the replicas is the configured total.", "shard");

    public static readonly Gauge ConfiguredStreams = Metrics.CreateGauge(
        "streamdeblur_configured_streams", "Streams (or files) in the config or folder that every replica reads.");

    /// <summary>Publishes which shard this replica is and how many streams it holds; the per-stream series exist for those streams only.</summary>
    public static void PublishShard(int index, int count, int held, int configured)
    {
        string shard = index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        ShardInfo.WithLabels(shard, count.ToString(System.Globalization.CultureInfo.InvariantCulture)).Set(1);
        ShardStreams.WithLabels(shard).Set(held);
        ConfiguredStreams.Set(configured);
    }

    /// <summary>
    /// Publishes a stream's counters at zero before its first frame, so that rate() and sum() see the series
    /// from the start instead of a gap (a counter that appears at 5 looks like a jump from nothing).
    /// </summary>
    public static void InitialiseStream(string streamId)
    {
        foreach (Counter counter in new[] { FramesRead, FramesPassed, FramesDeblurred, FramesWritten, Reconnects })
        {
            counter.WithLabels(streamId).IncTo(0);
        }

        foreach (string reason in new[] { "overload", "error" })
        {
            FramesSkipped.WithLabels(streamId, reason).IncTo(0);
        }

        foreach (string reason in new[] { "queue_full", "stream_failed", "shutdown" })
        {
            FramesDropped.WithLabels(streamId, reason).IncTo(0);
        }

        StreamUp.WithLabels(streamId).Set(0);
    }

    /// <summary>
    /// Registers these metrics (and trims prometheus-net's defaults) now. Call it before serving the default
    /// registry: the defaults can only be trimmed before the registry is first used.
    /// </summary>
    public static void EnsureRegistered() => _ = s_defaultsSuppressed;

    private static bool SuppressNoisyDefaults()
    {
        Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions
        {
            SuppressProcessMetrics = false,
            SuppressDebugMetrics = true,
            SuppressEventCounters = true,
            SuppressMeters = true,
        });
        return true;
    }
}
