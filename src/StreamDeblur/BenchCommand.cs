using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using StreamDeblur.Inference;
using StreamDeblur.Video;

namespace StreamDeblur.App;

/// <summary>
/// <c>streamdeblur bench</c>: whole-pipeline figures, each measured in the same run on the same machine,
/// and where there is a peer (ffmpeg), as a ratio against it.
/// </summary>
public static class BenchCommand
{
    /// <param name="Encoder">The x264 settings that the pipeline's default output and the ffmpeg peer share.</param>
    /// <param name="PeerFps">The peer: one ffmpeg process decoding the clip and encoding it with <paramref name="Encoder"/>.</param>
    /// <param name="PipelineDefaultFps">The pipeline with its defaults: decoder and encoder auto (libav here), H.264.</param>
    /// <param name="ChainFps">Two ffmpeg processes joined by a raw yuv420p pipe: the floor for any design that
    /// decodes in one child process and encodes in another, as the ffmpeg I/O path does.</param>
    /// <param name="PeerMpeg4Fps">ffmpeg encoding mpeg4 at -q:v 4, the only codec of the OpenCV path, its peer.</param>
    public sealed record PassThrough(
        int Frames, string Encoder, string DefaultBackends, double PeerFps, double PipelineDefaultFps, double RatioDefault,
        double PipelineFfmpegIoFps, double RatioFfmpegIo, double ChainFps, double RatioChain,
        double PeerMpeg4Fps, double PipelineOpenCvFps, double RatioOpenCv);

    /// <param name="ScoreOnlyMs1080p">The score without the motion cue: what a run without a frame report measures.</param>
    public sealed record EstimatorFigure(double Ms1080p, double Ms720p, double ScoreOnlyMs1080p);

    public sealed record BatchFigure(int BatchSize, double FramesPerSecond, double PacedFps, double LatencyP50Ms, double LatencyP99Ms);

    public sealed record StreamTrial(int Streams, long Written, long Expected, long Dropped, long Skipped, bool Sustained);

    public sealed record Report(
        string Machine, string Provider, string Model, string Input,
        PassThrough? PassThrough, EstimatorFigure? Estimator,
        IReadOnlyList<BatchFigure> Batches, IReadOnlyList<StreamTrial> Streams, int MaxStreams, string StreamsBackends,
        IReadOnlyList<ParityResult> Providers);

    public static async Task<int> ExecuteAsync(CommandLine command, ILoggerFactory loggers)
    {
        ILogger logger = loggers.CreateLogger("bench");
        StreamDeblurOptions options = ConfigLoader.Load(command["config"] ?? "config/streamdeblur.json");
        string input = command["input"] ?? "samples/vtest-blur.mp4";
        int frames = command.GetInt("frames", 600, 20, 100_000);
        int maxStreams = command.GetInt("streams", 8, 1, 64);
        string[] known = ["pass-through", "estimator", "batches", "streams", "providers"];
        string[] parts = (command["parts"] ?? string.Join(',', known[..4])).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.FirstOrDefault(p => !known.Contains(p)) is { } unknown)
        {
            throw new UsageException($"--parts: unknown part '{unknown}' (expected a comma-separated subset of {string.Join(", ", known)})");
        }

        if (!File.Exists(input))
        {
            throw new SourceException($"input file not found: {input}");
        }

        if (command["make-clip"] is { } clipPath)
        {
            (int made, Size size, double fps) = MakeClip(input, command.GetInt("frames", 150, 20, 100_000), clipPath);
            Console.WriteLine($"clip {clipPath}: {made} frames, {size.Width}x{size.Height}, {fps:F1} fps (mpeg4, made by OpenCV from {input})");
            return 0;
        }

        if (command["clip"] is { } preparedClip && !File.Exists(preparedClip))
        {
            throw new SourceException($"--clip file not found: {preparedClip}");
        }

        // The execution providers against the CPU on the shipped model (GpuTests' check), without a test runner.
        IReadOnlyList<ParityResult> parity = parts.Contains("providers") ? MeasureParity(options.Model, loggers) : [];
        if (parts.All(p => p == "providers"))
        {
            PrintParity(parity);
            return parity.All(r => r.Passed || r.Variant != "fp32") ? 0 : 1;
        }

        string work = Path.Combine(Path.GetTempPath(), $"streamdeblur-bench-{Environment.ProcessId}");
        Directory.CreateDirectory(work);
        try
        {
            // --clip: a 1280x720 clip made beforehand (--make-clip, as bench/gpu/gpu-check.sh does), for machines without ffmpeg.
            string clip = command["clip"] ?? Path.Combine(work, "clip-720p.mp4");
            if (command["clip"] is null)
            {
                await RunFfmpegAsync(["-v", "error", "-stream_loop", "-1", "-i", input, "-frames:v", frames.ToString(CultureInfo.InvariantCulture), "-vf", "scale=1280:720",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-an", "-y", clip]);
            }

            int clipFrames = CountFrames(clip);

            using DeblurModel model = DeblurModel.Load(options.Model, loggers.CreateLogger("model"));
            model.WarmUp(720, 1280);

            PassThrough? passThrough = null;
            if (parts.Contains("pass-through"))
            {
                logger.LogInformation("pass-through: pipeline (blur.mode=none) vs ffmpeg, both decoding {Clip} and encoding with {Args}", clip, string.Join(' ', X264.FfmpegArguments));
                passThrough = await MeasurePassThroughAsync(options, model, clip, clipFrames, work);
            }

            EstimatorFigure? estimator = null;
            if (parts.Contains("estimator"))
            {
                logger.LogInformation("blur estimator: one core");
                estimator = MeasureEstimator(options.Blur, clip);
            }

            var batches = new List<BatchFigure>();
            foreach (int batchSize in parts.Contains("batches") ? new[] { 1, 2, 4, 8 } : [])
            {
                batches.Add(await MeasureBatchAsync(options, model, clip, batchSize, work));
                logger.LogInformation("batch {Batch}: {Fps:F2} frames/s", batchSize, batches[^1].FramesPerSecond);
            }

            var trials = new List<StreamTrial>();
            for (int n = 1; n <= (parts.Contains("streams") ? maxStreams : 0); n++)
            {
                StreamTrial trial = await MeasureStreamsAsync(options, model, clip, clipFrames, n, work);
                trials.Add(trial);
                logger.LogInformation("{Streams} streams: written {Written}/{Expected}, dropped {Dropped}, skipped {Skipped}", n, trial.Written, trial.Expected, trial.Dropped, trial.Skipped);
                if (!trial.Sustained)
                {
                    break;
                }
            }

            var report = new Report(
                $"{Environment.ProcessorCount} cores, {Environment.OSVersion}", model.Provider, model.Metadata.Name, input,
                passThrough, estimator, batches, trials, trials.Where(t => t.Sustained).Select(t => t.Streams).DefaultIfEmpty(0).Max(),
                VideoBackends.Resolve(new StreamOptions { Id = "io", Input = clip, Output = Path.Combine(work, "io.mkv"), Decoder = "auto", Encoder = "auto" }),
                parity);
            Print(report);
            PrintParity(parity);
            if (command["json"] is { } jsonPath)
            {
                File.WriteAllText(jsonPath, JsonSerializer.Serialize(report, ConfigLoader.SerializerOptions));
            }

            return 0;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>What the pipeline writes by default (H.264 at its default CRF and preset), and what its ffmpeg peer is given.</summary>
    private static EncoderSettings X264 { get; } = EncoderSettings.For(new StreamOptions(), "h264");

    private static EncoderSettings Mpeg4 { get; } = EncoderSettings.For(new StreamOptions(), "mpeg4");

    /// <summary>
    /// Five rounds; in each, every pipeline run is followed at once by its peer, and a ratio is the median of the
    /// five pairs' ratios, so that a machine whose speed drifts (other jobs) slows both sides of a pair alike.
    /// </summary>
    private static async Task<PassThrough> MeasurePassThroughAsync(StreamDeblurOptions baseOptions, DeblurModel model, string clip, int frames, string work)
    {
        var pipelineDefault = new List<double>();
        var pipelineFfmpegIo = new List<double>();
        var pipelineOpenCv = new List<double>();
        var peer = new List<double>();
        var peerAgain = new List<double>();
        var peerMpeg4 = new List<double>();
        var chain = new List<double>();
        string chainCommand = ChainCommand(clip, Path.Combine(work, "chain.mkv")); // probes the clip: keep it out of the timing
        string backends = "";
        Task Peer() => RunFfmpegAsync(["-v", "error", "-i", clip, "-an", .. X264.FfmpegArguments, "-f", "matroska", "-y", Path.Combine(work, "peer.mkv")]);
        for (int run = 0; run < 5; run++)
        {
            StreamDeblurOptions options = Options(baseOptions, mode: "none");
            options.Streams = [new StreamOptions { Id = "bench", Input = clip, Output = Path.Combine(work, "pass.mkv") }];
            pipelineDefault.Add(frames / await TimePipelineAsync(options, model, report: null));
            backends = $"decoder {options.Streams[0].Decoder}, encoder {options.Streams[0].Encoder}";
            peer.Add(frames / await TimeAsync(Peer));

            options.Streams = [new StreamOptions { Id = "bench", Input = clip, Output = Path.Combine(work, "pass-ffmpeg.mkv"), Decoder = "ffmpeg", Encoder = "ffmpeg" }];
            pipelineFfmpegIo.Add(frames / await TimePipelineAsync(options, model, report: null));
            peerAgain.Add(frames / await TimeAsync(Peer));
            chain.Add(frames / await TimeAsync(() => RunShellAsync(chainCommand)));

            options.Streams = [new StreamOptions { Id = "bench", Input = clip, Output = Path.Combine(work, "pass-opencv.mkv"), Decoder = "opencv", Encoder = "opencv" }];
            pipelineOpenCv.Add(frames / await TimePipelineAsync(options, model, report: null));
            peerMpeg4.Add(frames / await TimeAsync(() => RunFfmpegAsync(["-v", "error", "-i", clip, "-an", .. Mpeg4.FfmpegArguments, "-f", "matroska", "-y", Path.Combine(work, "peer-mpeg4.mkv")])));
        }

        return new PassThrough(
            frames, X264.ToString(), backends, Median(peer), Median(pipelineDefault), PairedRatio(pipelineDefault, peer),
            Median(pipelineFfmpegIo), PairedRatio(pipelineFfmpegIo, peerAgain), Median(chain), PairedRatio(pipelineFfmpegIo, chain),
            Median(peerMpeg4), Median(pipelineOpenCv), PairedRatio(pipelineOpenCv, peerMpeg4));
    }

    /// <summary>The median of the runs' ratios, pair by pair.</summary>
    private static double PairedRatio(List<double> runs, List<double> peers) => Median(runs.Zip(peers, (a, b) => a / b).ToList());

    private static async Task<double> TimeAsync(Func<Task> work)
    {
        long start = Stopwatch.GetTimestamp();
        await work().ConfigureAwait(false);
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    /// <summary><c>ffmpeg -i clip ... yuv420p pipe | ffmpeg -i pipe ...</c> with the pipeline's x264 settings.</summary>
    private static string ChainCommand(string clip, string output)
    {
        using var capture = new VideoCapture(clip);
        string size = $"{capture.FrameWidth}x{capture.FrameHeight}";
        string rate = capture.Fps.ToString("0.###", CultureInfo.InvariantCulture);
        return $"ffmpeg -v error -i '{clip}' -an -f rawvideo -pix_fmt yuv420p pipe:1 | "
            + $"ffmpeg -v error -f rawvideo -pix_fmt yuv420p -s {size} -r {rate} -i pipe:0 {string.Join(' ', X264.FfmpegArguments)} -f matroska -y '{output}'";
    }

    private static Task RunShellAsync(string command) => RunProcessAsync("bash", ["-c", "set -o pipefail; " + command]);

    private static EstimatorFigure MeasureEstimator(BlurOptions blur, string clip)
    {
        using var capture = new VideoCapture(clip);
        using var frame = new Mat();
        capture.Read(frame);
        int threads = Cv2.GetNumThreads();
        Cv2.SetNumThreads(1);
        try
        {
            using var hd = new Mat();
            Cv2.Resize(frame, hd, new Size(1920, 1080));
            return new EstimatorFigure(TimeEstimator(blur, hd, motionCue: true), TimeEstimator(blur, frame, motionCue: true), TimeEstimator(blur, hd, motionCue: false));
        }
        finally
        {
            Cv2.SetNumThreads(threads);
        }
    }

    private static double TimeEstimator(BlurOptions blur, Mat image, bool motionCue)
    {
        using var estimator = new BlurEstimator(blur);
        var times = new List<double>();
        for (int i = 0; i < 220; i++)
        {
            long start = Stopwatch.GetTimestamp();
            estimator.Measure(image, motionCue: motionCue);
            if (i >= 20)
            {
                times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }

        return Median(times);
    }

    private static async Task<BatchFigure> MeasureBatchAsync(StreamDeblurOptions baseOptions, DeblurModel model, string clip, int batchSize, string work)
    {
        // Throughput: the deblur stage alone (pack, network, unpack) on real 720p frames.
        using var stage = new DeblurStage(model, baseOptions.Model, NullLogger.Instance);
        using var capture = new VideoCapture(clip);
        using var source = new Mat();
        capture.Read(source);
        var perFrame = new List<double>();
        for (int rep = 0; rep < 3; rep++)
        {
            var batch = new FrameBatch(source.Width, source.Height);
            for (int i = 0; i < batchSize; i++)
            {
                batch.Frames.Add(new Frame("bench", i, TimeSpan.Zero, source.Clone()));
            }

            long start = Stopwatch.GetTimestamp();
            stage.Process(batch);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            batch.Frames.ForEach(f => f.Dispose());
            if (rep > 0 || batchSize > 1)
            {
                perFrame.Add(seconds / batchSize);
            }
        }

        double fps = 1 / Median(perFrame);

        // Latency: every frame deblurred, the file replayed at 80 % of that throughput, capture to output. The short
        // clip is cut by ffmpeg; a machine without it (a GPU box with only the bundle) gets the throughput alone.
        double paced = Math.Max(0.5, fps * 0.8);
        if (!FfmpegOnPath())
        {
            return new BatchFigure(batchSize, fps, paced, double.NaN, double.NaN);
        }

        int frames = Math.Max(4 * batchSize, (int)Math.Ceiling(paced * 6));
        StreamDeblurOptions options = Options(baseOptions, mode: "all");
        options.Batching.MaxBatchSize = batchSize;
        options.Batching.MaxQueueDelayMs = Math.Max(options.Batching.MaxQueueDelayMs, 1000 * batchSize / paced);
        string shortClip = Path.Combine(work, $"batch-{batchSize}.mkv");
        await RunFfmpegAsync(["-v", "error", "-i", clip, "-frames:v", frames.ToString(CultureInfo.InvariantCulture), "-c", "copy", "-y", shortClip]);
        options.Streams = [new StreamOptions { Id = "bench", Input = shortClip, Output = Path.Combine(work, "all.mkv"), PaceFps = paced }];
        string reportPath = Path.Combine(work, $"latency-{batchSize}.jsonl");
        using (var report = new FrameReport(reportPath))
        {
            await TimePipelineAsync(options, model, report);
        }

        var latencies = File.ReadLines(reportPath)
            .Select(line => JsonDocument.Parse(line).RootElement.GetProperty("latency_ms").GetDouble())
            .Order()
            .ToList();
        return new BatchFigure(batchSize, fps, paced, Percentile(latencies, 0.5), Percentile(latencies, 0.99));
    }

    private static async Task<StreamTrial> MeasureStreamsAsync(StreamDeblurOptions baseOptions, DeblurModel model, string clip, int frames, int streams, string work)
    {
        StreamDeblurOptions options = Options(baseOptions, mode: "auto");
        options.Streams = Enumerable.Range(1, streams)
            // The cheapest I/O this machine has (libav here; OpenCV on a GPU box without FFmpeg 5.1), which leaves the
            // most CPU to the network.
            .Select(i => new StreamOptions { Id = $"bench{i}", Input = clip, Output = Path.Combine(work, $"live{i}.mkv"), PaceFps = 25, Live = true, Decoder = "auto", Encoder = "auto" })
            .ToList();
        long dropped = Sum(PipelineMetrics.FramesDropped);
        long skipped = Sum(PipelineMetrics.FramesSkipped);
        long written = Sum(PipelineMetrics.FramesWritten);
        await TimePipelineAsync(options, model, report: null);
        dropped = Sum(PipelineMetrics.FramesDropped) - dropped;
        skipped = Sum(PipelineMetrics.FramesSkipped) - skipped;
        written = Sum(PipelineMetrics.FramesWritten) - written;
        long expected = (long)frames * streams;
        return new StreamTrial(streams, written, expected, dropped, skipped, dropped == 0 && skipped == 0 && written == expected);
    }

    private static StreamDeblurOptions Options(StreamDeblurOptions source, string mode)
    {
        // A fresh copy per run: runs change batching and routing.
        StreamDeblurOptions copy = ConfigLoader.Parse(JsonSerializer.Serialize(source, ConfigLoader.SerializerOptions));
        copy.Blur.Mode = mode;
        copy.Http.Port = 0;
        return copy;
    }

    private static async Task<double> TimePipelineAsync(StreamDeblurOptions options, DeblurModel model, FrameReport? report)
    {
        ConfigLoader.ThrowIfInvalid(options);
        long start = Stopwatch.GetTimestamp();
        await using var pipeline = new FramePipeline(options, model, report, NullLoggerFactory.Instance, new PipelineState());
        IReadOnlyList<StreamResult> results = await pipeline.RunAsync(CancellationToken.None, CancellationToken.None);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (results.FirstOrDefault(r => r.Error is not null) is { } failed)
        {
            throw new SourceException($"benchmark run failed on stream {failed.StreamId}: {failed.Error}");
        }

        return seconds;
    }

    /// <summary>CUDA and TensorRT against the CPU, for each shipped variant of the model, on the first evaluation image.</summary>
    private static List<ParityResult> MeasureParity(ModelOptions model, ILoggerFactory loggers)
    {
        string image = Path.Combine("tests", "data", "eval", "000_blurry.png");
        var results = new List<ParityResult>();
        foreach (string provider in new[] { "cuda", "tensorrt" })
        {
            foreach ((bool fp16, bool int8) in new[] { (false, false), (true, false), (false, true) })
            {
                var variant = new ModelOptions { Metadata = model.Metadata, Fp16 = fp16, Int8 = int8, DeviceId = model.DeviceId };
                results.Add(ProviderParity.Compare(provider, variant, image, loggers.CreateLogger("model")));
            }
        }

        return results;
    }

    private static void PrintParity(IReadOnlyList<ParityResult> parity)
    {
        if (parity.Count == 0)
        {
            return;
        }

        Console.WriteLine();
        Console.WriteLine($"| provider asked | provider used | model | PSNR of its output against the CPU's ({parity[0].Image}) | GpuTests' check (fp32: same provider, > {ParityResult.MinimumPsnrDb} dB) |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (ParityResult r in parity)
        {
            string check = r.Variant != "fp32" ? "reported" : r.Passed ? "pass" : "FAIL";
            Console.WriteLine($"| {r.Requested} | {r.Used} | {r.Variant} | {r.PsnrAgainstCpuDb:F1} dB | {check} |");
        }
    }

    private static bool FfmpegOnPath() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Any(dir => File.Exists(Path.Combine(dir, "ffmpeg")));

    private static void Print(Report r)
    {
        Console.WriteLine($"machine: {r.Machine}; provider: {r.Provider}; model: {r.Model}; input: {r.Input} scaled to 1280x720");
        Console.WriteLine();
        Console.WriteLine("| figure | value |");
        Console.WriteLine("|---|---|");
        if (r.PassThrough is { } p)
        {
            Console.WriteLine($"| pass-through ({p.Frames} frames), the peer: ffmpeg decoding and encoding {p.Encoder} | {p.PeerFps:F1} fps |");
            Console.WriteLine($"| pass-through, pipeline with its defaults ({p.DefaultBackends}, {p.Encoder}) | {p.PipelineDefaultFps:F1} fps, ratio {p.RatioDefault:F2} |");
            Console.WriteLine($"| pass-through, pipeline with decoder=ffmpeg, encoder=ffmpeg (child processes, same x264 settings) | {p.PipelineFfmpegIoFps:F1} fps, ratio {p.RatioFfmpegIo:F2} |");
            Console.WriteLine($"| pass-through, ffmpeg decode piped as raw yuv420p into a second ffmpeg that encodes | {p.ChainFps:F1} fps; the ffmpeg-I/O pipeline runs at {p.RatioChain:F2} of it |");
            Console.WriteLine($"| pass-through, ffmpeg decoding and encoding mpeg4 -q:v 4 (the OpenCV path's peer) | {p.PeerMpeg4Fps:F1} fps |");
            Console.WriteLine($"| pass-through, pipeline with decoder=opencv, encoder=opencv (mpeg4) | {p.PipelineOpenCvFps:F1} fps, ratio {p.RatioOpenCv:F2} to its mpeg4 peer |");
        }

        if (r.Estimator is { } e)
        {
            Console.WriteLine($"| blur estimator with the motion cue (a run with --report), 1920x1080, one core | {e.Ms1080p:F2} ms/frame |");
            Console.WriteLine($"| blur estimator with the motion cue, 1280x720, one core | {e.Ms720p:F2} ms/frame |");
            Console.WriteLine($"| blur score alone (no motion cue: a run without --report), 1920x1080, one core | {e.ScoreOnlyMs1080p:F2} ms/frame |");
        }
        foreach (BatchFigure b in r.Batches)
        {
            string latency = double.IsNaN(b.LatencyP50Ms) ? "latency not measured (no ffmpeg)" : $"latency p50 {b.LatencyP50Ms:F0} ms, p99 {b.LatencyP99Ms:F0} ms at {b.PacedFps:F1} fps offered";
            Console.WriteLine($"| deblur 1280x720, batch {b.BatchSize} | {1000 / b.FramesPerSecond:F1} ms per frame ({b.FramesPerSecond:F2} frames/s); {latency} |");
        }

        foreach (StreamTrial t in r.Streams)
        {
            Console.WriteLine($"| {t.Streams} x 25 fps 720p live streams, 30 % blurry, {r.StreamsBackends} | {(t.Sustained ? "sustained" : "not sustained")}: written {t.Written}/{t.Expected}, dropped {t.Dropped}, deblur skipped {t.Skipped} |");
        }

        if (r.Streams.Count > 0)
        {
            Console.WriteLine($"| concurrent 25 fps 720p streams sustained without drops | {r.MaxStreams} |");
        }
    }

    private static Task RunFfmpegAsync(IEnumerable<string> args) => RunProcessAsync("ffmpeg", args);

    /// <summary>Runs a program to its end; a non-zero exit becomes an error carrying its stderr.</summary>
    private static async Task RunProcessAsync(string program, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(psi) ?? throw new SourceException($"cannot start {program}");
        Task<string> errors = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync().ConfigureAwait(false);
        await process.WaitForExitAsync().ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new SourceException($"{program} {string.Join(' ', psi.ArgumentList)} failed: {(await errors).Trim()}");
        }
    }

    /// <summary>
    /// <c>--make-clip</c>: the benchmark's 1280x720 clip without ffmpeg, from the bundle's own OpenCV. The input is
    /// looped to <paramref name="frames"/> frames and scaled as ffmpeg's <c>scale=1280:720</c> would (bicubic), at the
    /// input's frame rate, and encoded as the OpenCV sink encodes (MPEG-4, mp4v): the only encoder OpenCV has here.
    /// The file is read back, so a clip that OpenCV cannot decode fails here rather than in the benchmark.
    /// </summary>
    internal static (int Frames, Size Size, double Fps) MakeClip(string input, int frames, string path)
    {
        var size = new Size(1280, 720);
        double fps = 0;
        using (var writer = new VideoWriter())
        using (var frame = new Mat())
        using (var scaled = new Mat())
        {
            for (int written = 0; written < frames;)
            {
                // One pass over the input, then the next from its start (ffmpeg's -stream_loop -1).
                using var capture = new VideoCapture(input);
                if (!capture.IsOpened())
                {
                    throw new SourceException($"cannot open {input}");
                }

                if (!writer.IsOpened())
                {
                    fps = capture.Fps > 0 ? capture.Fps : 25;
                    if (!writer.Open(path, FourCC.FromString("mp4v"), fps, size))
                    {
                        throw new SinkException($"cannot open {path} for writing (mp4v, 1280x720): check the folder and the file extension (.mp4, .mkv, .avi)");
                    }
                }

                int before = written;
                while (written < frames && capture.Read(frame) && !frame.Empty())
                {
                    Cv2.Resize(frame, scaled, size, interpolation: InterpolationFlags.Cubic);
                    writer.Write(scaled);
                    written++;
                }

                if (written == before)
                {
                    throw new SourceException($"{input}: no frame to read");
                }
            }
        }

        int count = CountFrames(path);
        if (count != frames)
        {
            throw new SinkException($"{path}: {count} frames read back, {frames} written");
        }

        return (count, size, fps);
    }

    private static int CountFrames(string path)
    {
        using var capture = new VideoCapture(path);
        using var frame = new Mat();
        int count = 0;
        while (capture.Read(frame) && !frame.Empty())
        {
            count++;
        }

        return count;
    }

    private static long Sum(Prometheus.Counter counter) =>
        (long)counter.GetAllLabelValues().Sum(labels => counter.WithLabels(labels).Value);

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
