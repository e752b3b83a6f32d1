using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using StreamDeblur.Inference;
using StreamDeblur.Stages;
using StreamDeblur.Video;
using StreamDeblur.Video.FixedCamera;

namespace StreamDeblur.App;

/// <summary>How one stream's run ended: its files (under their final names when <see cref="Phase"/> is Done), and its counts.</summary>
public sealed record StreamResult(string StreamId, long FramesWritten, IReadOnlyList<string> Files, string? Error)
{
    public StreamPhase Phase { get; init; } = StreamPhase.Done;

    public StreamProgress? Progress { get; init; }

    /// <summary>The provenance sidecar written for the outputs, if any.</summary>
    public string? ProvenanceFile { get; init; }
}

/// <summary>
/// The pipeline, wired in one place. Per stream:
/// <code>
///   source ─▶[decoded]─▶ blur estimator ─▶[scored]─▶ router ─┬─ sharp ──────────────────────────▶[ready]─▶ reorder ─▶[ordered]─▶ encoder ─▶ sinks
///                                                            └─ blurry ─▶ (shared) [blurry] ─▶ batcher ─▶[batches]─▶ deblur ─┘
/// </code>
/// A fixed-camera stream (fixed-camera mode on, and a two-frame model loaded) has the reference keeper between
/// the router and the routes, where its frames are still in order; blurry frames leave it with an aligned
/// copy of the last sharp frame, and the batcher and deblur stage run those through the two-frame network:
/// <code>
///   … router ─▶[judged]─▶ reference keeper ─┬─ sharp ─────────────────────────────────────────▶[ready]─▶ …
///                                           └─ blurry + reference ─▶ (shared) [blurry] ─▶ batcher ─▶ …
/// </code>
/// Every arrow in brackets is a bounded channel. Live sources feed a leaky [decoded] queue that drops its
/// oldest frame when full; everything else waits (backpressure), so files never lose a frame.
/// Cancelling <c>stopReading</c> stops the sources and lets the queues drain; cancelling <c>abort</c> stops everything.
/// At most <c>maxConcurrentStreams</c> streams run at once (a folder of files), all through the one shared
/// batcher and model. A stream's files are written under partial names and published when it ends well:
/// a file read to its end, or a live stream stopped by a signal.
/// </summary>
public sealed class FramePipeline : IAsyncDisposable
{
    private readonly StreamDeblurOptions _options;
    private readonly DeblurModel _model;
    private readonly DeblurModel? _fixedCameraModel;
    private readonly FrameReport? _report;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly PipelineState _state;
    private readonly IReadOnlyDictionary<string, IFrameSink> _extraSinks;
    private readonly Provenance? _provenance;
    private readonly int _maxConcurrentStreams;
    private readonly Dictionary<string, string> _backends = new(StringComparer.Ordinal);

    public FramePipeline(
        StreamDeblurOptions options,
        DeblurModel model,
        FrameReport? report,
        ILoggerFactory loggers,
        PipelineState state,
        IReadOnlyDictionary<string, IFrameSink>? extraSinks = null,
        Provenance? provenance = null,
        int maxConcurrentStreams = 0,
        DeblurModel? fixedCameraModel = null)
    {
        _options = options;
        _model = model;
        _fixedCameraModel = fixedCameraModel;
        _report = report;
        _loggers = loggers;
        _logger = loggers.CreateLogger("pipeline");
        _state = state;
        _extraSinks = extraSinks ?? new Dictionary<string, IFrameSink>();
        _provenance = provenance;
        _maxConcurrentStreams = maxConcurrentStreams > 0 ? maxConcurrentStreams : Math.Max(1, options.Streams.Count);
        foreach (StreamOptions stream in options.Streams)
        {
            _backends[stream.Id] = VideoBackends.Resolve(stream); // "auto" becomes what this machine has
            Progress[stream.Id] = new StreamProgress(stream.Id, stream.Input);
        }
    }

    /// <summary>Each stream's live counts, for the progress display.</summary>
    public Dictionary<string, StreamProgress> Progress { get; } = new(StringComparer.Ordinal);

    public async Task<IReadOnlyList<StreamResult>> RunAsync(CancellationToken stopReading, CancellationToken abort)
    {
        int capacity = _options.Pipeline.ChannelCapacity;
        var tails = new Dictionary<string, StreamTail>(StringComparer.Ordinal);
        foreach (StreamOptions stream in _options.Streams)
        {
            tails[stream.Id] = new StreamTail(stream.Id, capacity);
        }

        // Shared by every stream: blurry frames → batcher → deblur.
        Channel<Frame> blurry = PipelineChannels.Lossless<Frame>(capacity * _maxConcurrentStreams, singleReader: true, singleWriter: false);
        Channel<FrameBatch> batches = PipelineChannels.Lossless<FrameBatch>(2);
        var blurryWriters = new SharedWriterCompletion<Frame>(blurry.Writer, _options.Streams.Count);
        var batcher = new FrameBatcher(_options.Batching);
        using BlurEstimator? scoreAfterDeblur = _options.Streams.Any(UsesFixedCamera) ? new BlurEstimator(_options.Blur) : null;
        using var deblur = new DeblurStage(_model, _options.Model, _loggers.CreateLogger("deblur"), _fixedCameraModel, scoreAfterDeblur);

        Task batcherTask = batcher.RunAsync(blurry.Reader, batches.Writer, abort);
        Task deblurTask = Task.Run(() => deblur.RunAsync(batches.Reader, (frame, ct) => tails[frame.StreamId].ReturnFromDeblurAsync(frame, ct), abort), abort);

        using var sampler = new QueueDepthSampler();
        sampler.Watch("blurry", "all", blurry.Reader);
        sampler.Watch("batches", "all", batches.Reader);

        using var slots = new SemaphoreSlim(_maxConcurrentStreams);
        Task<StreamResult>[] streamTasks = _options.Streams
            .Select(stream => RunStreamWhenFreeAsync(stream, tails[stream.Id], blurry.Writer, blurryWriters, sampler, slots, stopReading, abort))
            .ToArray();

        StreamResult[] results = await Task.WhenAll(streamTasks).ConfigureAwait(false);
        try
        {
            await Task.WhenAll(batcherTask, deblurTask).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
        }

        return results;
    }

    /// <summary>Waits for a free slot (a folder runs a few files at a time), runs the stream, then records and publishes its outputs.</summary>
    private async Task<StreamResult> RunStreamWhenFreeAsync(
        StreamOptions stream,
        StreamTail tail,
        ChannelWriter<Frame> blurry,
        SharedWriterCompletion<Frame> blurryWriters,
        QueueDepthSampler sampler,
        SemaphoreSlim slots,
        CancellationToken stopReading,
        CancellationToken abort)
    {
        StreamProgress progress = Progress[stream.Id];
        try
        {
            await slots.WaitAsync(stopReading).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped before its turn came: it never started.
            blurryWriters.WriterDone();
            tail.Release();
            progress.End(StreamPhase.Stopped);
            return new StreamResult(stream.Id, 0, [], null) { Phase = StreamPhase.Stopped, Progress = progress };
        }

        try
        {
            progress.Start();
            Provenance.Pending? record = _provenance?.Begin(stream);
            (StreamResult result, IFileSink? fileSink) = await RunStreamAsync(stream, tail, blurry, blurryWriters, sampler, progress, stopReading, abort).ConfigureAwait(false);
            return await FinishAsync(stream, result, fileSink, record, progress).ConfigureAwait(false);
        }
        finally
        {
            slots.Release();
        }
    }

    /// <summary>Publishes the files of a stream that ended well, keeps the others under their partial names, and writes the provenance record.</summary>
    private async Task<StreamResult> FinishAsync(StreamOptions stream, StreamResult result, IFileSink? fileSink, Provenance.Pending? record, StreamProgress progress)
    {
        ILogger logger = _loggers.CreateLogger($"stream.{stream.Id}");
        string? provenanceFile = null;
        try
        {
            if (result.Phase == StreamPhase.Done)
            {
                fileSink?.Publish();
            }
            else if (fileSink is { Files.Count: > 0 })
            {
                logger.LogWarning("stream {Stream}: {Why}; its output stays under the name {Partial} ({Frames} frames, playable)",
                    stream.Id, result.Phase == StreamPhase.Failed ? "it failed" : "it was stopped before the end of its input", fileSink.Files[^1], result.FramesWritten);
            }

            IReadOnlyList<string> files = fileSink?.Files ?? [];
            if (record is not null && files.Count > 0)
            {
                string phase = result.Phase switch { StreamPhase.Done => "complete", StreamPhase.Failed => "failed", _ => "stopped" };
                provenanceFile = await _provenance!.WriteAsync(record, progress, files, phase, result.Error, Dropped(stream.Id)).ConfigureAwait(false);
            }

            result = result with { Files = files, ProvenanceFile = provenanceFile };
        }
        catch (IOException ex)
        {
            logger.LogError("stream {Stream}: cannot publish or record its output: {Error}", stream.Id, ex.Message);
            result = result with { Error = result.Error ?? ex.Message, Phase = StreamPhase.Failed };
        }

        progress.End(result.Phase);
        return result with { Progress = progress };
    }

    private static long Dropped(string streamId) =>
        (long)PipelineMetrics.FramesDropped.GetAllLabelValues()
            .Where(labels => labels[0] == streamId && !labels[1].StartsWith("forward_", StringComparison.Ordinal))
            .Sum(labels => PipelineMetrics.FramesDropped.WithLabels(labels).Value);

    private async Task<(StreamResult Result, IFileSink? FileSink)> RunStreamAsync(
        StreamOptions stream,
        StreamTail tail,
        ChannelWriter<Frame> blurry,
        SharedWriterCompletion<Frame> blurryWriters,
        QueueDepthSampler sampler,
        StreamProgress progress,
        CancellationToken stopReading,
        CancellationToken abort)
    {
        ILogger logger = _loggers.CreateLogger($"stream.{stream.Id}");
        var sinks = new List<IFrameSink>();
        IFileSink? fileSink = null;
        bool routerStarted = false;
        try
        {
            await using IFrameSource source = SourceFactory.Create(stream, logger, _state);
            await source.OpenAsync(stopReading).ConfigureAwait(false);
            VideoInfo info = source.Info;
            progress.TotalFrames = info.IsLive ? 0 : info.FrameCount;
            logger.LogInformation("stream {Stream}: {Input} {Width}x{Height} at {Fps:F2} fps ({Kind}); {Backends}",
                stream.Id, UrlRedactor.Redact(stream.Input), info.Width, info.Height, info.FramesPerSecond, info.IsLive ? "live" : "file", _backends[stream.Id]);
            if (!info.IsLive)
            {
                // Live sources report their own states; a file is up once it opens.
                _state.Report(stream.Id, StreamHealth.Up, $"{info.Width}x{info.Height} at {info.FramesPerSecond:F2} fps");
            }

            if (stream.Output is not null)
            {
                EncoderSettings settings = EncoderSettings.For(stream, stream.Codec ?? "h264");
                string? audioFrom = info.IsLive || InputKind.Classify(stream.Input) != InputKindValue.File ? null : stream.Input;
                fileSink = stream.Encoder switch
                {
                    "ffmpeg" => new FfmpegFileSink(stream.Id, stream.Output, info.FramesPerSecond, settings, audioFrom, logger),
                    "libav" => new LibavFileSink(stream.Id, stream.Output, info.FramesPerSecond, settings, audioFrom, logger),
                    _ => new VideoFileSink(stream.Id, stream.Output, info.FramesPerSecond, stream.SegmentSeconds, logger, audioFrom: audioFrom),
                };
                sinks.Add(fileSink);
            }

            if (stream.Forward is not null)
            {
                sinks.Add(SinkFactory.CreateForward(stream, info, logger));
            }

            if (_extraSinks.TryGetValue(stream.Id, out IFrameSink? extra))
            {
                sinks.Add(extra);
            }

            // The stages and the channels between them.
            Channel<Frame> decoded = stream.IsLive
                ? PipelineChannels.DropOldest(_options.Pipeline.ChannelCapacity, dropped => DropDecoded(stream.Id, tail, dropped))
                : PipelineChannels.Lossless<Frame>(_options.Pipeline.ChannelCapacity);
            Channel<Frame> scored = PipelineChannels.Lossless<Frame>(_options.Pipeline.ChannelCapacity);
            Channel<Frame> ordered = PipelineChannels.Lossless<Frame>(_options.Pipeline.ChannelCapacity);
            sampler.Watch("decoded", stream.Id, decoded.Reader);
            sampler.Watch("scored", stream.Id, scored.Reader);
            sampler.Watch("ready", stream.Id, tail.Ready);
            sampler.Watch("ordered", stream.Id, ordered.Reader);

            using var estimator = new BlurEstimatorStage(_options.Blur, motionCue: _report is not null);
            var latencyBudget = TimeSpan.FromMilliseconds(stream.MaxLatencyMs);
            var router = new RouterStage(stream.Id, _options.Blur, stream.IsLive, latencyBudget);
            Channel<Frame>? judged = UsesFixedCamera(stream) ? PipelineChannels.Lossless<Frame>(_options.Pipeline.ChannelCapacity) : null;
            using ReferenceKeeperStage? keeper = judged is null ? null
                : new ReferenceKeeperStage(stream.Id, _options.FixedCamera, _options.Blur, new RouteDispatcher(stream.Id, stream.IsLive, latencyBudget));
            if (judged is not null)
            {
                PipelineMetrics.InitialiseFixedCamera(stream.Id);
                sampler.Watch("judged", stream.Id, judged.Reader);
            }

            var reorder = new ReorderStage(stream.Id);
            var encoder = new EncoderStage(stream.Id, sinks, _report, progress);

            // A fault travels down the line with the channels' completion, and the encoder writes every frame
            // that reaches it before it fails too. But when the encoder itself fails (an output that cannot be
            // written), nothing reads the queues above it any more. So an encoder fault ends the stream: its
            // stages and its source stop, and frames still on the shared deblur path are dropped on return
            // instead of blocking the other streams.
            using var streamFailed = CancellationTokenSource.CreateLinkedTokenSource(abort);
            using var stopSource = CancellationTokenSource.CreateLinkedTokenSource(stopReading, streamFailed.Token);
            Task sourceTask = source.RunAsync(decoded.Writer, stopSource.Token);
            bool cutShort = false; // a file whose reading was stopped before its end
            Task noteCut = sourceTask.ContinueWith(_ => cutShort = stopReading.IsCancellationRequested, TaskScheduler.Default);
            Task estimateTask = estimator.RunAsync(decoded.Reader, scored.Writer, streamFailed.Token);
            routerStarted = true;
            Task routeTask = judged is null
                ? RunSharedWriterAsync(router.RunAsync(scored.Reader, tail, blurry, streamFailed.Token), blurryWriters)
                : Task.WhenAll(
                    router.RunAsync(scored.Reader, judged.Writer, streamFailed.Token),
                    RunSharedWriterAsync(keeper!.RunAsync(judged.Reader, tail, blurry, streamFailed.Token), blurryWriters));
            Task reorderTask = reorder.RunAsync(tail, ordered.Writer, streamFailed.Token);
            Task encodeTask = encoder.RunAsync(ordered.Reader, streamFailed.Token);
            Task endOnEncoderFault = encodeTask.ContinueWith(
                t =>
                {
                    if (t.IsFaulted)
                    {
                        tail.Fail(t.Exception!.GetBaseException());
                        streamFailed.Cancel();
                    }
                },
                TaskScheduler.Default);

            Exception? error = await FirstErrorAsync(sourceTask, estimateTask, routeTask, reorderTask, encodeTask).ConfigureAwait(false);
            await endOnEncoderFault.ConfigureAwait(false);
            DisposeQueued(decoded.Reader, scored.Reader, tail.Ready, ordered.Reader);
            if (judged is not null)
            {
                DisposeQueued(judged.Reader);
            }

            string? message = error is null ? null : UrlRedactor.Redact(error.Message);
            if (message is not null)
            {
                logger.LogError("stream {Stream} failed: {Error} ({Frames} frames were written and kept)", stream.Id, message, encoder.FramesWritten);
                _state.Report(stream.Id, StreamHealth.Failed, message);
            }

            await noteCut.ConfigureAwait(false);
            StreamPhase phase = message is not null ? StreamPhase.Failed
                : !stream.IsLive && (cutShort || abort.IsCancellationRequested) ? StreamPhase.Stopped
                : StreamPhase.Done;
            return (new StreamResult(stream.Id, encoder.FramesWritten, [], message) { Phase = phase }, fileSink);
        }
        catch (Exception ex) when (ex is SourceException or SinkException or IOException)
        {
            logger.LogError("stream {Stream} failed: {Error}", stream.Id, UrlRedactor.Redact(ex.Message));
            _state.Report(stream.Id, StreamHealth.Failed, UrlRedactor.Redact(ex.Message));
            return (new StreamResult(stream.Id, fileSink?.FramesWritten ?? 0, [], UrlRedactor.Redact(ex.Message)) { Phase = StreamPhase.Failed }, fileSink);
        }
        finally
        {
            if (!routerStarted)
            {
                blurryWriters.WriterDone();
                tail.Release();
            }

            foreach (IFrameSink sink in sinks)
            {
                sink.Dispose();
            }

            _state.StreamEnded(stream.Id);
        }
    }

    /// <summary>
    /// Fixed-camera mode is on for a stream when it is enabled, the stream does not turn it off, a two-frame model
    /// is loaded, and some frames are judged (blur.mode none judges none).
    /// </summary>
    private bool UsesFixedCamera(StreamOptions stream) =>
        FixedCameraModel.UsedBy(_options, stream, _fixedCameraModel);

    /// <summary>Runs the stage that writes a stream's blurry frames into the shared queue (the router or the reference keeper).</summary>
    private static async Task RunSharedWriterAsync(Task routing, SharedWriterCompletion<Frame> blurryWriters)
    {
        try
        {
            await routing.ConfigureAwait(false);
        }
        finally
        {
            // One stream ending (or failing) never completes the shared queue for the others.
            blurryWriters.WriterDone();
        }
    }

    private static void DropDecoded(string streamId, StreamTail tail, Frame dropped)
    {
        tail.Drops.Record(dropped.Sequence);
        PipelineMetrics.FramesDropped.WithLabels(streamId, "queue_full").Inc();
        dropped.Dispose();
    }

    private static void DisposeQueued(params ChannelReader<Frame>[] queues)
    {
        foreach (ChannelReader<Frame> queue in queues)
        {
            PipelineChannels.DisposeRemaining(queue);
        }
    }

    /// <summary>Waits for all of a stream's stages and returns the first real error (cancellation is not one).</summary>
    private static async Task<Exception?> FirstErrorAsync(params Task[] tasks)
    {
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch
        {
        }

        return tasks
            .Where(t => t.IsFaulted)
            .Select(t => RootCause(t.Exception!))
            .FirstOrDefault(e => e is not OperationCanceledException);
    }

    /// <summary>A stage that wrote into a queue that a fault had closed reports the fault, not the closed queue.</summary>
    private static Exception RootCause(AggregateException fault)
    {
        Exception error = fault.GetBaseException();
        while (error is ChannelClosedException { InnerException: { } cause })
        {
            error = cause;
        }

        return error;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
