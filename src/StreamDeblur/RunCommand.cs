using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using StreamDeblur.Inference;
using StreamDeblur.Video.Libav;

namespace StreamDeblur.App;

/// <summary>
/// <c>streamdeblur run</c>: the main job, on one input, on the streams of a config, or on every video of a
/// folder. Exit codes: 0 all done; 1 a stream or file failed (or was refused); 2 usage or config error;
/// 3 a folder run was stopped (SIGINT/SIGTERM) before every file was done, and none failed.
/// </summary>
public static class RunCommand
{
    public const int ExitAllDone = 0;
    public const int ExitSomeFailed = 1;
    public const int ExitStopped = 3;

    public static async Task<int> ExecuteAsync(CommandLine command, ILoggerFactory loggers, IAnsiConsole? progressConsole = null)
    {
        ILogger logger = loggers.CreateLogger("run");
        StreamDeblurOptions options = LoadOptions(command);
        ShardSelection? shard = ShardSelection.Resolve(command, Environment.GetEnvironmentVariable);
        int configured = options.Streams.Count;
        ShardReport? shardReport = null;
        IReadOnlyList<FolderJob.Entry>? folder = null;
        if (command["input"] is { } input && Directory.Exists(input))
        {
            folder = PlanFolder(command, options, input, shard, logger, out shardReport);
            if (options.Streams.Count == 0)
            {
                PrintSummary(folder, []);
                return folder.Any(e => e.Refused) ? ExitSomeFailed : ExitAllDone;
            }
        }
        else
        {
            if (shard is not null)
            {
                if (command["input"] is not null)
                {
                    throw new ConfigException("shard: --shard-count applies to the streams of a --config or the files of an --input folder, not to one --input file");
                }

                options.Streams = [.. shard.Take(options.Streams, s => s.Id)];
                shardReport = ReportShard(shard, [.. options.Streams.Select(s => s.Id)], configured, logger);
            }

            OutputSafety.Check(options.Streams, logger);
        }

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

        if (options.Streams.Any(s => s.Decoder is "libav" or "auto" || s.Encoder is "libav" or "auto"))
        {
            LibavLog.RouteTo(loggers.CreateLogger("libav"));
        }

        var state = new PipelineState { Shard = shardReport ?? new ShardReport(0, 1, [.. options.Streams.Select(s => s.Id)], options.Streams.Count) };
        PipelineMetrics.PublishShard(state.Shard.Index, state.Shard.Count, state.Shard.Held.Count, state.Shard.Configured);
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
        if (shard is not null && folder is null && options.Streams.Count == 0)
        {
            // A shard with no stream of its own stays up and ready (a StatefulSet restarts a pod that exits), and says so.
            logger.LogWarning("{Detail}; idling until SIGTERM", state.Shard.Detail);
            try
            {
                await Task.Delay(Timeout.Infinite, stopReading.Token);
            }
            catch (OperationCanceledException)
            {
            }

            return ExitAllDone;
        }

        using FrameReport? report = command["report"] is { } reportPath ? new FrameReport(reportPath) : null;

        long start = Stopwatch.GetTimestamp();
        int jobs = folder is null ? 0 : command.GetInt("jobs", DefaultJobs, 1, 64);
        var provenance = new Provenance(options, model);
        await using var pipeline = new FramePipeline(options, model, report, loggers, state, http?.PreviewSinks(options.Streams), provenance, jobs, fixedCameraModel);
        using var finished = new CancellationTokenSource();
        Task progress = new ProgressDisplay(pipeline.Progress.Values).RunAsync(command["progress"] ?? "auto", progressConsole, logger, finished.Token);
        IReadOnlyList<StreamResult> results;
        try
        {
            results = await pipeline.RunAsync(stopReading.Token, abort.Token);
        }
        finally
        {
            await finished.CancelAsync();
            await progress;
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        foreach (StreamResult result in results)
        {
            if (abort.IsCancellationRequested)
            {
                CountFramesLostAtDeadline(result.StreamId, logger, options.Pipeline.DrainTimeoutSeconds);
            }
        }

        if (folder is not null)
        {
            PrintSummary(folder, results);
            return results.Any(r => r.Phase == StreamPhase.Failed) || folder.Any(e => e.Refused) ? ExitSomeFailed
                : results.Any(r => r.Phase == StreamPhase.Stopped) ? ExitStopped
                : ExitAllDone;
        }

        foreach (StreamResult result in results)
        {
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

        return results.All(r => r.Error is null) ? ExitAllDone : ExitSomeFailed;
    }

    /// <summary>Files processed at once in a folder run: two keep both cores busy (one file's decoding and encoding beside another's network).</summary>
    public const int DefaultJobs = 2;

    /// <summary>The config file (if any) with --input/--output (if given) as a single stream, and the command line's encoder and overwrite choices.</summary>
    public static StreamDeblurOptions LoadOptions(CommandLine command)
    {
        StreamDeblurOptions options = ConfigLoader.Load(command["config"]);
        if (command["input"] is { } input)
        {
            if (command["output"] is null && command["forward"] is null)
            {
                throw new UsageException("--input needs --output (or --forward)");
            }

            if (Directory.Exists(input))
            {
                if (command["output"] is not { } outputDir || File.Exists(outputDir) || command["forward"] is not null)
                {
                    throw new UsageException("--input is a folder: --output must be a folder too (it is created if needed), and --forward does not apply");
                }

                if (OutputSafety.SameFile(input, outputDir) || (Directory.Exists(outputDir) && SameDirectory(input, outputDir)))
                {
                    throw new UsageException($"--output {outputDir} is the input folder: the outputs would sit among, and could replace, the recordings; choose another folder");
                }

                options.Streams = []; // planned from the folder's files
            }
            else
            {
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
        }
        else if (command["output"] is not null)
        {
            throw new UsageException("--output needs --input");
        }

        if (command.Has("recursive") && !(command["input"] is { } folderInput && Directory.Exists(folderInput)))
        {
            throw new UsageException("--recursive applies when --input is a folder");
        }

        // "{start}" in an output name becomes the run's start time (UTC), so that a restarted or rescheduled live
        // worker (a Kubernetes pod) writes new files instead of meeting, and refusing, the ones it wrote before.
        string started = DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        foreach (StreamOptions stream in options.Streams)
        {
            ApplyEncoderChoices(command, stream);
            stream.Output = stream.Output?.Replace("{start}", started, StringComparison.Ordinal);
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

        if (command["progress"] is { } progress && progress is not ("auto" or "plain" or "off"))
        {
            throw new UsageException($"--progress must be auto, plain or off, not '{progress}'");
        }

        if (!(command["input"] is { } folderRun && Directory.Exists(folderRun)))
        {
            ConfigLoader.ThrowIfInvalid(options); // a folder run's streams are checked once planned
        }

        return options;
    }

    private static void ApplyEncoderChoices(CommandLine command, StreamOptions stream)
    {
        stream.Overwrite |= command.Has("overwrite");
        stream.Decoder = command["decoder"] ?? stream.Decoder;
        stream.Encoder = command["encoder"] ?? stream.Encoder;
        stream.Codec = command["codec"] ?? stream.Codec;
        stream.Crf = command["crf"] is null ? stream.Crf : command.GetInt("crf", 0, 0, 51);
        stream.Preset = command["preset"] ?? stream.Preset;
    }

    /// <summary>Plans a folder run: the files to process become the streams; the others are skipped or refused.</summary>
    private static IReadOnlyList<FolderJob.Entry> PlanFolder(CommandLine command, StreamDeblurOptions options, string inputDir, ShardSelection? shard, ILogger logger, out ShardReport? shardReport)
    {
        shardReport = null;
        string outputDir = command["output"]!;
        var template = new StreamOptions { Id = "folder", Input = inputDir, Output = outputDir };
        ApplyEncoderChoices(command, template);
        IReadOnlyList<string> inputs = FolderJob.ListInputs(inputDir, command.Has("recursive"), outputDir);
        if (shard is not null)
        {
            // Every completion index lists the same folder and keeps its share, keyed by the path under the folder.
            int listed = inputs.Count;
            inputs = shard.Take(inputs, path => Path.GetRelativePath(inputDir, path));
            shardReport = ReportShard(shard, [.. inputs.Select(path => Path.GetRelativePath(inputDir, path))], listed, logger);
        }

        IReadOnlyList<FolderJob.Entry> entries = FolderJob.Plan(inputs, inputDir, outputDir, template);
        options.Streams = entries.Where(e => e.Stream is not null).Select(e => e.Stream!).ToList();
        logger.LogInformation("folder {Input}: {Videos} videos, {Run} to process, {Done} done by an earlier run, {Refused} refused; {Jobs} at a time",
            inputDir, entries.Count, options.Streams.Count, entries.Count(e => e.Skip is not null && !e.Refused), entries.Count(e => e.Refused),
            command.GetInt("jobs", DefaultJobs, 1, 64));
        foreach (FolderJob.Entry entry in entries)
        {
            if (entry.Refused)
            {
                logger.LogError("{File}: {Refusal}", entry.RelativePath, entry.Skip);
            }
            else if (entry.Stream is not null)
            {
                OutputSafety.WarnAboutEarlierPartial(entry.Stream, logger);
            }
        }

        if (options.Streams.Count > 0)
        {
            ConfigLoader.ThrowIfInvalid(options);
        }

        return entries;
    }

    private static ShardReport ReportShard(ShardSelection shard, IReadOnlyList<string> held, int configured, ILogger logger)
    {
        logger.LogInformation("{Shard}: {Held} of {Configured} streams ({First}{More})", shard, held.Count, configured,
            string.Join(", ", held.Take(20)), held.Count > 20 ? ", …" : "");
        return new ShardReport(shard.Index, shard.Count, held, configured);
    }

    private static bool SameDirectory(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(a)), Path.TrimEndingDirectorySeparator(Path.GetFullPath(b)), StringComparison.Ordinal)
        || (new DirectoryInfo(a).ResolveLinkTarget(true)?.FullName ?? Path.GetFullPath(a)) == (new DirectoryInfo(b).ResolveLinkTarget(true)?.FullName ?? Path.GetFullPath(b));

    /// <summary>The table that ends a folder run: one row per file, then the totals.</summary>
    private static void PrintSummary(IReadOnlyList<FolderJob.Entry> entries, IReadOnlyList<StreamResult> results)
    {
        Dictionary<string, StreamResult> byId = results.ToDictionary(r => r.StreamId, StringComparer.Ordinal);
        var rows = new List<string[]> { new[] { "file", "frames", "deblurred", "time", "result" } };
        foreach (FolderJob.Entry entry in entries)
        {
            if (entry.Stream is null || !byId.TryGetValue(entry.Stream.Id, out StreamResult? result))
            {
                rows.Add([entry.RelativePath, "-", "-", "-", entry.Refused ? $"refused: {entry.Skip}" : $"skipped: {entry.Skip}"]);
                continue;
            }

            StreamProgress? p = result.Progress;
            string outcome = result.Phase switch
            {
                StreamPhase.Done => "done -> " + string.Join(", ", result.Files),
                StreamPhase.Failed => $"failed: {result.Error}",
                _ when result.FramesWritten == 0 && result.Files.Count == 0 => "not started (stopped)",
                _ => "stopped: kept as " + string.Join(", ", result.Files),
            };
            rows.Add([entry.RelativePath, result.FramesWritten.ToString(CultureInfo.InvariantCulture), (p?.Deblurred ?? 0).ToString(CultureInfo.InvariantCulture),
                $"{(p?.Elapsed ?? TimeSpan.Zero).TotalSeconds:F1} s", outcome]);
        }

        int done = results.Count(r => r.Phase == StreamPhase.Done) + entries.Count(e => e.Skip is not null && !e.Refused);
        int failed = results.Count(r => r.Phase == StreamPhase.Failed) + entries.Count(e => e.Refused);
        int[] widths = Enumerable.Range(0, 4).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (string[] row in rows)
        {
            Console.WriteLine(string.Join("  ", row.Take(4).Select((cell, c) => c == 0 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c]))) + "  " + row[4]);
        }

        Console.WriteLine($"files: {entries.Count}, done {done}, failed {failed}, stopped {entries.Count - done - failed}");
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
