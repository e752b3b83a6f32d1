using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using StreamDeblur.Inference;
using StreamDeblur.Video.Libav;

namespace StreamDeblur.App;

/// <summary><c>streamdeblur run</c>: the main job.</summary>
public static class RunCommand
{
    public static async Task<int> ExecuteAsync(CommandLine command, ILoggerFactory loggers)
    {
        ILogger logger = loggers.CreateLogger("run");
        StreamDeblurOptions options = LoadOptions(command);

        using var stopReading = new CancellationTokenSource();
        using var abort = new CancellationTokenSource();
        void RequestStop(string signal)
        {
            if (stopReading.IsCancellationRequested)
            {
                return;
            }

            logger.LogWarning("{Signal}: stopping the sources and draining the queues (deadline {Seconds} s)", signal, options.Pipeline.DrainTimeoutSeconds);
            stopReading.Cancel();
            abort.CancelAfter(TimeSpan.FromSeconds(options.Pipeline.DrainTimeoutSeconds));
        }

        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; RequestStop("SIGINT"); });
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; RequestStop("SIGTERM"); });

        if (options.Streams.Any(s => s.Decoder == "libav" || s.Encoder == "libav"))
        {
            LibavLog.RouteTo(loggers.CreateLogger("libav"));
        }

        var state = new PipelineState();
        foreach (StreamOptions stream in options.Streams)
        {
            PipelineMetrics.InitialiseStream(stream.Id);
        }

        // The HTTP endpoint starts first, so that /healthz answers and /readyz says 503 while the model loads.
        await using HttpEndpoint? http = options.Http.Port > 0 ? await HttpEndpoint.StartAsync(options.Http, state, loggers) : null;
        using DeblurModel model = DeblurModel.Load(options.Model, loggers.CreateLogger("model"));
        FixedCameraModel.ThrowIfTwoFrame(model, options.Model.Metadata);
        using DeblurModel? fixedCameraModel = FixedCameraModel.Load(options, loggers.CreateLogger("model"));
        state.Provider = model.Provider;
        if (options.Model.WarmUp)
        {
            TimeSpan warm = model.WarmUp() + (fixedCameraModel?.WarmUp() ?? TimeSpan.Zero);
            logger.LogInformation("model warmed up in {Ms:F0} ms", warm.TotalMilliseconds);
        }

        state.ModelReady = true;
        using FrameReport? report = command["report"] is { } reportPath ? new FrameReport(reportPath) : null;

        long start = Stopwatch.GetTimestamp();
        await using var pipeline = new FramePipeline(options, model, report, loggers, state, http?.PreviewSinks(options.Streams), fixedCameraModel);
        IReadOnlyList<StreamResult> results = await pipeline.RunAsync(stopReading.Token, abort.Token);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;

        foreach (StreamResult result in results)
        {
            if (abort.IsCancellationRequested)
            {
                CountFramesLostAtDeadline(result.StreamId, logger, options.Pipeline.DrainTimeoutSeconds);
            }

            string files = result.Files.Count == 0 ? "" : " -> " + string.Join(", ", result.Files);

            // Frames dropped from the live forward alone still reach the file, so they are reported apart.
            long notForwarded = Count(PipelineMetrics.FramesDropped, result.StreamId, reason => reason.StartsWith("forward_", StringComparison.Ordinal));
            long dropped = Count(PipelineMetrics.FramesDropped, result.StreamId, reason => !reason.StartsWith("forward_", StringComparison.Ordinal));
            Console.WriteLine(
                $"stream {result.StreamId}: {result.FramesWritten} frames in {seconds:F1} s ({result.FramesWritten / Math.Max(seconds, 1e-9):F1} fps): " +
                $"{Count(PipelineMetrics.FramesPassed, result.StreamId)} sharp, {Count(PipelineMetrics.FramesDeblurred, result.StreamId)} deblurred, " +
                $"{Count(PipelineMetrics.FramesSkipped, result.StreamId)} skipped, {dropped} dropped" +
                (notForwarded == 0 ? "" : $", {notForwarded} not forwarded") + files +
                (result.Error is null ? "" : $" [failed: {result.Error}]"));
        }

        if (results.Count == 1 && results[0].Error is { } onlyError)
        {
            Console.Error.WriteLine($"streamdeblur: error: {onlyError}");
        }

        return results.All(r => r.Error is null) ? 0 : 1;
    }

    /// <summary>The config file (if any) with --input/--output (if given) as a single stream.</summary>
    public static StreamDeblurOptions LoadOptions(CommandLine command)
    {
        StreamDeblurOptions options = ConfigLoader.Load(command["config"]);
        if (command["input"] is { } input)
        {
            if (command["output"] is null && command["forward"] is null)
            {
                throw new UsageException("--input needs --output (or --forward)");
            }

            options.Streams =
            [
                new StreamOptions
                {
                    Id = command["stream-id"] ?? "main",
                    Input = input,
                    Output = command["output"],
                    Forward = command["forward"],
                },
            ];
        }
        else if (command["output"] is not null)
        {
            throw new UsageException("--output needs --input");
        }

        if (command["port"] is not null)
        {
            options.Http.Port = command.GetInt("port", 0, 0, 65535);
        }

        // Containers listen on every interface (the Dockerfile sets 0.0.0.0); the config's default is loopback.
        if (Environment.GetEnvironmentVariable("STREAMDEBLUR_HTTP_HOST") is { Length: > 0 } host)
        {
            options.Http.Host = host;
        }

        ConfigLoader.ThrowIfInvalid(options);
        return options;
    }

    /// <summary>
    /// Frames still in the queues when the drain deadline passed were discarded unwritten: count them as
    /// dropped (reason "shutdown") so that read = written + dropped holds on the metrics and in the summary.
    /// </summary>
    private static void CountFramesLostAtDeadline(string stream, ILogger logger, double deadlineSeconds)
    {
        long lost = Count(PipelineMetrics.FramesRead, stream) - Count(PipelineMetrics.FramesWritten, stream)
            - (long)PipelineMetrics.FramesDropped.WithLabels(stream, "queue_full").Value
            - (long)PipelineMetrics.FramesDropped.WithLabels(stream, "stream_failed").Value;
        if (lost > 0)
        {
            PipelineMetrics.FramesDropped.WithLabels(stream, "shutdown").Inc(lost);
            logger.LogWarning("stream {Stream}: the drain deadline ({Seconds} s) passed with {Lost} frames still queued; they were not written", stream, deadlineSeconds, lost);
        }
    }

    private static long Count(Prometheus.Counter counter, string stream, Func<string, bool>? secondLabel = null) =>
        (long)counter.GetAllLabelValues()
            .Where(labels => labels[0] == stream && (secondLabel is null || secondLabel(labels[1])))
            .Sum(labels => counter.WithLabels(labels).Value);
}
