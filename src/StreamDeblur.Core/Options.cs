using System.Text.Json.Serialization;

namespace StreamDeblur;

/// <summary>The whole configuration file. Each component has one group.</summary>
public sealed class StreamDeblurOptions
{
    public List<StreamOptions> Streams { get; set; } = [];
    public BlurOptions Blur { get; set; } = new();
    public BatchingOptions Batching { get; set; } = new();
    public ModelOptions Model { get; set; } = new();
    public PipelineOptions Pipeline { get; set; } = new();
    public HttpOptions Http { get; set; } = new();

    /// <summary>Every problem found, each naming its key; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Streams.Count == 0)
        {
            errors.Add("streams: at least one stream is required (or pass --input and --output)");
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Streams.Count; i++)
        {
            StreamOptions stream = Streams[i];
            stream.Validate($"streams[{i}]", errors);
            if (!string.IsNullOrEmpty(stream.Id) && !ids.Add(stream.Id))
            {
                errors.Add($"streams[{i}].id: '{stream.Id}' is used by more than one stream");
            }
        }

        Blur.Validate("blur", errors);
        Batching.Validate("batching", errors);
        Model.Validate("model", errors);
        Pipeline.Validate("pipeline", errors);
        Http.Validate("http", errors);
        return errors;
    }

    internal static void Require(bool condition, List<string> errors, string key, string problem)
    {
        if (!condition)
        {
            errors.Add($"{key}: {problem}");
        }
    }
}

/// <summary>One input stream and where its frames go.</summary>
public sealed class StreamOptions
{
    /// <summary>Short id used in logs, metrics labels and output names. Letters, digits, '-' and '_'.</summary>
    public string Id { get; set; } = "";

    /// <summary>A file path, an rtsp://, rtmp://, http(s):// URL, or a camera index such as "0" or "/dev/video0".</summary>
    public string Input { get; set; } = "";

    /// <summary>Output video file (.mkv recommended: it stays playable if the process is killed). Optional.</summary>
    public string? Output { get; set; }

    /// <summary>Live forward target (rtsp:// or rtmp://), fed through an ffmpeg child process. Optional.</summary>
    public string? Forward { get; set; }

    /// <summary>
    /// Who decodes a file input: "auto" (the default: libav where Debian's FFmpeg 5.1 libraries load, else the
    /// ffmpeg child, else OpenCV), "opencv" (OpenCvSharp's bundled FFmpeg, in process), "ffmpeg" (Debian's
    /// ffmpeg as a child process) or "libav" (Debian's FFmpeg 5.1 libraries, in process: the fastest; see the
    /// README's pass-through figures). Live inputs are always read by ffmpeg.
    /// </summary>
    public string Decoder { get; set; } = "auto";

    /// <summary>
    /// Who encodes the output file: "auto" (the default, chosen as for the decoder; OpenCV when segments are
    /// asked for), "opencv" (OpenCvSharp's VideoWriter, in process, MPEG-4 Part 2 only, no audio), "ffmpeg" (a
    /// child process fed raw frames, which finalises the file even when the worker is killed) or "libav"
    /// (Debian's FFmpeg 5.1 libraries, in process: the fastest; a killed run loses up to a second).
    /// </summary>
    public string Encoder { get; set; } = "auto";

    /// <summary>
    /// The output's video codec: "h264" (libx264), "hevc" (libx265) or "mpeg4" (MPEG-4 Part 2). Unset: h264,
    /// or mpeg4 with the opencv encoder, which has no other.
    /// </summary>
    public string? Codec { get; set; }

    /// <summary>x264/x265 constant rate factor (0..51, lower is better; 0 is lossless). Unset: the codec's visually lossless default.</summary>
    public int? Crf { get; set; }

    /// <summary>x264/x265 preset, from ultrafast to veryslow: slower presets give smaller files at the same quality.</summary>
    public string Preset { get; set; } = EncoderSettings.DefaultPreset;

    /// <summary>Replace an existing output file. Without it, a run refuses to start over an existing output.</summary>
    public bool Overwrite { get; set; }

    /// <summary>Start a new output file every this many seconds of video; 0 writes one file (opencv encoder only).</summary>
    public double SegmentSeconds { get; set; }

    /// <summary>Overrides live detection (URLs and cameras are live, files are not).</summary>
    public bool? Live { get; set; }

    /// <summary>
    /// Live streams only: the latency budget from capture to output. A blurry frame older than this when it
    /// is routed passes through without deblurring; when the decode queue is full the oldest frame is dropped.
    /// </summary>
    public int MaxLatencyMs { get; set; } = 1000;

    /// <summary>Files only: replay at this many frames per second, as `ffmpeg -re` does (for tests and benchmarks); 0 reads as fast as possible.</summary>
    public double PaceFps { get; set; }

    public ReconnectOptions Reconnect { get; set; } = new();

    [JsonIgnore]
    public bool IsLive => Live ?? InputKind.IsLive(Input);

    internal void Validate(string key, List<string> errors)
    {
        StreamDeblurOptions.Require(!string.IsNullOrWhiteSpace(Id), errors, $"{key}.id", "is required");
        StreamDeblurOptions.Require(
            Id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_') && Id.Length <= 64,
            errors, $"{key}.id", $"'{Id}' may only hold letters, digits, '-' and '_' (64 at most)");
        StreamDeblurOptions.Require(!string.IsNullOrWhiteSpace(Input), errors, $"{key}.input", "is required");
        StreamDeblurOptions.Require(Output is not null || Forward is not null, errors, $"{key}", "needs an output file or a forward URL");
        StreamDeblurOptions.Require(Decoder is "auto" or "opencv" or "ffmpeg" or "libav", errors, $"{key}.decoder", $"'{Decoder}' is not one of auto, opencv, ffmpeg, libav");
        StreamDeblurOptions.Require(Encoder is "auto" or "opencv" or "ffmpeg" or "libav", errors, $"{key}.encoder", $"'{Encoder}' is not one of auto, opencv, ffmpeg, libav");
        StreamDeblurOptions.Require(Codec is null or "h264" or "hevc" or "mpeg4", errors, $"{key}.codec", $"'{Codec}' is not one of h264, hevc, mpeg4");
        StreamDeblurOptions.Require(
            Encoder != "opencv" || Codec is null or "mpeg4", errors, $"{key}.codec",
            $"the opencv encoder writes mpeg4 only; use encoder libav or ffmpeg for {Codec}");
        StreamDeblurOptions.Require(Crf is null or (>= 0 and <= 51), errors, $"{key}.crf", $"{Crf} is outside 0..51");
        StreamDeblurOptions.Require(Crf is null || Codec != "mpeg4", errors, $"{key}.crf", "applies to h264 and hevc; mpeg4 is written at a fixed quantiser");
        StreamDeblurOptions.Require(
            EncoderSettings.Presets.Contains(Preset), errors, $"{key}.preset", $"'{Preset}' is not one of {string.Join(", ", EncoderSettings.Presets)}");
        StreamDeblurOptions.Require(
            Decoder != "libav" || string.IsNullOrWhiteSpace(Input) || InputKind.Classify(Input) == InputKindValue.File,
            errors, $"{key}.decoder", "libav decodes files only; live inputs are read by an ffmpeg child process");
        StreamDeblurOptions.Require(Encoder is "opencv" or "auto" || SegmentSeconds == 0, errors, $"{key}.segment_seconds", "segments need the opencv encoder (the ffmpeg and libav encoders keep a killed run's file playable without them)");
        StreamDeblurOptions.Require(SegmentSeconds == 0 || Codec is null or "mpeg4", errors, $"{key}.codec", "segments are written by the opencv encoder, which writes mpeg4 only");
        StreamDeblurOptions.Require(SegmentSeconds >= 0 && SegmentSeconds <= 86400, errors, $"{key}.segment_seconds", $"{SegmentSeconds} is outside 0..86400");
        StreamDeblurOptions.Require(PaceFps is >= 0 and <= 1000, errors, $"{key}.pace_fps", $"{PaceFps} is outside 0..1000");
        StreamDeblurOptions.Require(MaxLatencyMs is >= 50 and <= 600_000, errors, $"{key}.max_latency_ms", $"{MaxLatencyMs} is outside 50..600000");
        if (Forward is not null)
        {
            StreamDeblurOptions.Require(
                Forward.StartsWith("rtsp://", StringComparison.OrdinalIgnoreCase) || Forward.StartsWith("rtmp://", StringComparison.OrdinalIgnoreCase),
                errors, $"{key}.forward", $"'{UrlRedactor.Redact(Forward)}' must be an rtsp:// or rtmp:// URL");
        }

        if (!string.IsNullOrWhiteSpace(Input) && InputKind.Classify(Input) == InputKindValue.Unsupported)
        {
            errors.Add($"{key}.input: '{UrlRedactor.Redact(Input)}' has an unsupported URL scheme (use a file, rtsp://, rtmp://, http(s):// or a camera index)");
        }

        Reconnect.Validate($"{key}.reconnect", errors);
    }
}

/// <summary>How a live source reconnects after it fails or stalls.</summary>
public sealed class ReconnectOptions
{
    public double InitialDelaySeconds { get; set; } = 0.5;
    public double MaxDelaySeconds { get; set; } = 30;
    /// <summary>No frame for this long means the source is stalled; it is then restarted.</summary>
    public double StallTimeoutSeconds { get; set; } = 5;
    /// <summary>How long to wait for the first frame after (re)connecting.</summary>
    public double OpenTimeoutSeconds { get; set; } = 10;

    internal void Validate(string key, List<string> errors)
    {
        StreamDeblurOptions.Require(InitialDelaySeconds is > 0 and <= 3600, errors, $"{key}.initial_delay_seconds", $"{InitialDelaySeconds} is outside (0, 3600]");
        StreamDeblurOptions.Require(MaxDelaySeconds >= InitialDelaySeconds && MaxDelaySeconds <= 3600, errors, $"{key}.max_delay_seconds", $"{MaxDelaySeconds} must be at least initial_delay_seconds and at most 3600");
        StreamDeblurOptions.Require(StallTimeoutSeconds is > 0 and <= 3600, errors, $"{key}.stall_timeout_seconds", $"{StallTimeoutSeconds} is outside (0, 3600]");
        StreamDeblurOptions.Require(OpenTimeoutSeconds is > 0 and <= 3600, errors, $"{key}.open_timeout_seconds", $"{OpenTimeoutSeconds} is outside (0, 3600]");
    }
}

/// <summary>The blur estimator and the router's threshold.</summary>
public sealed class BlurOptions
{
    /// <summary>Luma is downscaled to this width before scoring (keeps the score resolution-independent and cheap).</summary>
    public int AnalysisWidth { get; set; } = 320;

    /// <summary>A frame enters the blurry state when its sharpness falls below baseline × this ratio.</summary>
    public double EnterRatio { get; set; } = 0.45;

    /// <summary>It leaves the blurry state when its sharpness rises above baseline × this ratio (hysteresis).</summary>
    public double ExitRatio { get; set; } = 0.6;

    /// <summary>
    /// Absolute floor: while the stream's baseline is below it the scene is too dark or flat to judge,
    /// and no frame is flagged.
    /// </summary>
    public double AbsoluteFloor { get; set; } = 20;

    /// <summary>How fast the baseline follows sharper frames (0..1, per frame).</summary>
    public double BaselineRise { get; set; } = 0.3;

    /// <summary>How fast the baseline decays towards duller sharp frames (0..1, per frame).</summary>
    public double BaselineDecay { get; set; } = 0.02;

    /// <summary>Longest blur the motion cue looks for, in analysis pixels.</summary>
    public int MaxMotionLag { get; set; } = 12;

    /// <summary>auto (judge each frame), all (deblur every frame) or none (pass every frame through); the last two are for benchmarks.</summary>
    public string Mode { get; set; } = "auto";

    internal void Validate(string key, List<string> errors)
    {
        StreamDeblurOptions.Require(AnalysisWidth is >= 64 and <= 4096, errors, $"{key}.analysis_width", $"{AnalysisWidth} is outside 64..4096");
        StreamDeblurOptions.Require(EnterRatio is > 0 and < 1, errors, $"{key}.enter_ratio", $"{EnterRatio} is outside (0, 1)");
        StreamDeblurOptions.Require(ExitRatio >= EnterRatio && ExitRatio < 1, errors, $"{key}.exit_ratio", $"{ExitRatio} must be in [enter_ratio, 1)");
        StreamDeblurOptions.Require(AbsoluteFloor >= 0, errors, $"{key}.absolute_floor", $"{AbsoluteFloor} must not be negative");
        StreamDeblurOptions.Require(BaselineRise is > 0 and <= 1, errors, $"{key}.baseline_rise", $"{BaselineRise} is outside (0, 1]");
        StreamDeblurOptions.Require(BaselineDecay is > 0 and <= 1, errors, $"{key}.baseline_decay", $"{BaselineDecay} is outside (0, 1]");
        StreamDeblurOptions.Require(Mode is "auto" or "all" or "none", errors, $"{key}.mode", $"'{Mode}' is not one of auto, all, none");
        StreamDeblurOptions.Require(MaxMotionLag is >= 2 and <= 64, errors, $"{key}.max_motion_lag", $"{MaxMotionLag} is outside 2..64");
    }
}

/// <summary>The shared cross-stream batcher (size-or-timeout, like nvstreammux).</summary>
public sealed class BatchingOptions
{
    public int MaxBatchSize { get; set; } = 4;

    /// <summary>A batch is pushed when full or when this long has passed since its first frame arrived.</summary>
    public double MaxQueueDelayMs { get; set; } = 40;

    internal void Validate(string key, List<string> errors)
    {
        StreamDeblurOptions.Require(MaxBatchSize is >= 1 and <= 64, errors, $"{key}.max_batch_size", $"{MaxBatchSize} is outside 1..64");
        StreamDeblurOptions.Require(MaxQueueDelayMs is >= 0 and <= 10_000, errors, $"{key}.max_queue_delay_ms", $"{MaxQueueDelayMs} is outside 0..10000");
    }
}

/// <summary>The deblurring network and how ONNX Runtime runs it.</summary>
public sealed class ModelOptions
{
    /// <summary>The model's metadata file (JSON beside the .onnx file).</summary>
    public string Metadata { get; set; } = "models/deblur-fast.json";

    /// <summary>Use the FP16 variant named in the metadata.</summary>
    public bool Fp16 { get; set; }

    /// <summary>
    /// Use the INT8 variant named in the metadata (post-training quantised, QDQ): on CPUs with VNNI about
    /// 1.7× faster than FP32 at a few hundredths of a dB less gain (see models/README.md).
    /// </summary>
    public bool Int8 { get; set; }

    /// <summary>cpu, cuda or tensorrt. Falls back to cpu, with a log line, when the provider is unavailable.</summary>
    public string ExecutionProvider { get; set; } = "cpu";

    public int DeviceId { get; set; }

    /// <summary>Threads inside one operator; 0 lets ONNX Runtime choose (one per core).</summary>
    public int IntraOpThreads { get; set; }

    public int InterOpThreads { get; set; } = 1;

    /// <summary>
    /// Let ONNX Runtime's idle threads spin. Spinning shaves latency on dedicated cores but burns the cores
    /// that decoding and encoding share with the network, so it is off by default.
    /// </summary>
    public bool AllowSpinning { get; set; }

    /// <summary>Frames larger than this many pixels (width × height) are deblurred in overlapping tiles.</summary>
    public int TileAbovePixels { get; set; } = 1920 * 1088;

    public int TileSize { get; set; } = 512;

    public int TileOverlap { get; set; } = 32;

    /// <summary>Run a warm-up inference at start-up, before any stream opens.</summary>
    public bool WarmUp { get; set; } = true;

    internal void Validate(string key, List<string> errors)
    {
        StreamDeblurOptions.Require(!string.IsNullOrWhiteSpace(Metadata), errors, $"{key}.metadata", "is required");
        StreamDeblurOptions.Require(!(Fp16 && Int8), errors, $"{key}.int8", "fp16 and int8 each pick a variant of the model: set one of them");
        StreamDeblurOptions.Require(
            ExecutionProvider is "cpu" or "cuda" or "tensorrt", errors, $"{key}.execution_provider",
            $"'{ExecutionProvider}' is not one of cpu, cuda, tensorrt");
        StreamDeblurOptions.Require(DeviceId >= 0, errors, $"{key}.device_id", $"{DeviceId} must not be negative");
        StreamDeblurOptions.Require(IntraOpThreads is >= 0 and <= 256, errors, $"{key}.intra_op_threads", $"{IntraOpThreads} is outside 0..256");
        StreamDeblurOptions.Require(InterOpThreads is >= 0 and <= 256, errors, $"{key}.inter_op_threads", $"{InterOpThreads} is outside 0..256");
        StreamDeblurOptions.Require(TileAbovePixels >= 64 * 64, errors, $"{key}.tile_above_pixels", $"{TileAbovePixels} is below 4096");
        StreamDeblurOptions.Require(TileSize is >= 64 and <= 4096, errors, $"{key}.tile_size", $"{TileSize} is outside 64..4096");
        StreamDeblurOptions.Require(TileOverlap >= 0 && TileOverlap * 2 < TileSize, errors, $"{key}.tile_overlap", $"{TileOverlap} must be at least 0 and under half of tile_size");
    }
}

/// <summary>Queues between stages and shutdown.</summary>
public sealed class PipelineOptions
{
    /// <summary>Capacity of every bounded channel between stages, in frames (batches for the batch queue).</summary>
    public int ChannelCapacity { get; set; } = 8;

    /// <summary>On SIGINT/SIGTERM, how long queued frames may take to drain before outputs are closed anyway.</summary>
    public double DrainTimeoutSeconds { get; set; } = 10;

    internal void Validate(string key, List<string> errors)
    {
        StreamDeblurOptions.Require(ChannelCapacity is >= 1 and <= 4096, errors, $"{key}.channel_capacity", $"{ChannelCapacity} is outside 1..4096");
        StreamDeblurOptions.Require(DrainTimeoutSeconds is >= 0 and <= 3600, errors, $"{key}.drain_timeout_seconds", $"{DrainTimeoutSeconds} is outside 0..3600");
    }
}

/// <summary>The HTTP endpoint: /metrics, /healthz, /readyz and the MJPEG preview.</summary>
public sealed class HttpOptions
{
    /// <summary>TCP port; 0 disables the endpoint.</summary>
    public int Port { get; set; }

    public string Host { get; set; } = "127.0.0.1";

    internal void Validate(string key, List<string> errors)
    {
        StreamDeblurOptions.Require(Port is >= 0 and <= 65535, errors, $"{key}.port", $"{Port} is outside 0..65535");
        StreamDeblurOptions.Require(!string.IsNullOrWhiteSpace(Host), errors, $"{key}.host", "is required");
    }
}
