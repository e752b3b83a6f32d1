using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using StreamDeblur.Inference;
using StreamDeblur.Stages;
using StreamDeblur.Video;
using StreamDeblur.Video.FixedCamera;

namespace StreamDeblur.App;

/// <summary>How one stream's run ended.</summary>
public sealed record StreamResult(string StreamId, long FramesWritten, IReadOnlyList<string> Files, string? Error);

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

    public FramePipeline(
        StreamDeblurOptions options,
        DeblurModel model,
        FrameReport? report,
        ILoggerFactory loggers,
        PipelineState state,
        IReadOnlyDictionary<string, IFrameSink>? extraSinks = null,
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
    }

    public async Task<IReadOnlyList<StreamResult>> RunAsync(CancellationToken stopReading, CancellationToken abort)
    {
        int capacity = _options.Pipeline.ChannelCapacity;
        var tails = new Dictionary<string, StreamTail>(StringComparer.Ordinal);
        foreach (StreamOptions stream in _options.Streams)
        {
            tails[stream.Id] = new StreamTail(stream.Id, capacity);
        }

        // Shared by every stream: blurry frames → batcher → deblur.
        Channel<Frame> blurry = PipelineChannels.Lossless<Frame>(capacity * Math.Max(1, _options.Streams.Count), singleReader: true, singleWriter: false);
        Channel<FrameBatch> batches = PipelineChannels.Lossless<FrameBatch>(2);
        var blurryWriters = new SharedWriterCompletion<Frame>(blurry.Writer, _options.Streams.Count);
        var batcher = new FrameBatcher(_options.Batching);
        using BlurEstimator? scoreAfterDeblur = _fixedCameraModel is null ? null : new BlurEstimator(_options.Blur);
        using var deblur = new DeblurStage(_model, _options.Model, _loggers.CreateLogger("deblur"), _fixedCameraModel, scoreAfterDeblur);

        Task batcherTask = batcher.RunAsync(blurry.Reader, batches.Writer, abort);
        Task deblurTask = Task.Run(() => deblur.RunAsync(batches.Reader, (frame, ct) => tails[frame.StreamId].ReturnFromDeblurAsync(frame, ct), abort), abort);

        using var sampler = new QueueDepthSampler();
        sampler.Watch("blurry", "all", blurry.Reader);
        sampler.Watch("batches", "all", batches.Reader);

        Task<StreamResult>[] streamTasks = _options.Streams
            .Select(stream => RunStreamAsync(stream, tails[stream.Id], blurry.Writer, blurryWriters, sampler, stopReading, abort))
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

    private async Task<StreamResult> RunStreamAsync(
        StreamOptions stream,
        StreamTail tail,
        ChannelWriter<Frame> blurry,
        SharedWriterCompletion<Frame> blurryWriters,
        QueueDepthSampler sampler,
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
            logger.LogInformation("stream {Stream}: {Input} {Width}x{Height} at {Fps:F2} fps ({Kind})",
                stream.Id, UrlRedactor.Redact(stream.Input), info.Width, info.Height, info.FramesPerSecond, info.IsLive ? "live" : "file");
            if (!info.IsLive)
            {
                // Live sources report their own states; a file is up once it opens.
                _state.Report(stream.Id, StreamHealth.Up, $"{info.Width}x{info.Height} at {info.FramesPerSecond:F2} fps");
            }

            if (stream.Output is not null)
            {
                fileSink = stream.Encoder switch
                {
                    "ffmpeg" => new FfmpegFileSink(stream.Id, stream.Output, info.FramesPerSecond, logger),
                    "libav" => new LibavFileSink(stream.Id, stream.Output, info.FramesPerSecond, logger),
                    _ => new VideoFileSink(stream.Id, stream.Output, info.FramesPerSecond, stream.SegmentSeconds, logger),
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
            var encoder = new EncoderStage(stream.Id, sinks, _report);

            // A fault travels down the line with the channels' completion, and the encoder writes every frame
            // that reaches it before it fails too. But when the encoder itself fails (an output that cannot be
            // written), nothing reads the queues above it any more. So an encoder fault ends the stream: its
            // stages and its source stop, and frames still on the shared deblur path are dropped on return
            // instead of blocking the other streams.
            using var streamFailed = CancellationTokenSource.CreateLinkedTokenSource(abort);
            using var stopSource = CancellationTokenSource.CreateLinkedTokenSource(stopReading, streamFailed.Token);
            Task sourceTask = source.RunAsync(decoded.Writer, stopSource.Token);
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

            return new StreamResult(stream.Id, encoder.FramesWritten, fileSink?.Files ?? [], message);
        }
        catch (Exception ex) when (ex is SourceException or SinkException or IOException)
        {
            logger.LogError("stream {Stream} failed: {Error}", stream.Id, UrlRedactor.Redact(ex.Message));
            _state.Report(stream.Id, StreamHealth.Failed, UrlRedactor.Redact(ex.Message));
            return new StreamResult(stream.Id, fileSink?.FramesWritten ?? 0, fileSink?.Files ?? [], UrlRedactor.Redact(ex.Message));
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
        _fixedCameraModel is not null && _options.FixedCamera.Enabled && stream.FixedCamera && _options.Blur.Mode != "none";

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
