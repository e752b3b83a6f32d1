using System.Globalization;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace StreamDeblur.App;

/// <summary>
/// Shows how far a run over files has come: per file and overall, the frames, the rate, the share deblurred
/// and the time left. On a terminal it is a live bar per file and one overall (Spectre.Console, drawn on
/// stderr); off a terminal (redirected, as in CI and under systemd) a plain log line every few seconds.
/// Live streams have no end, so they are not shown.
/// </summary>
public sealed class ProgressDisplay
{
    public static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(5);

    private readonly IReadOnlyList<(StreamProgress Progress, long Bytes)> _files;
    private readonly long _totalBytes;
    private readonly DateTime _started = DateTime.UtcNow;

    public ProgressDisplay(IEnumerable<StreamProgress> streams)
    {
        _files = streams
            .Where(p => InputKind.Classify(p.Input) == InputKindValue.File && File.Exists(p.Input))
            .Select(p => (p, Math.Max(1, new FileInfo(p.Input).Length)))
            .ToList();
        _totalBytes = _files.Sum(f => f.Bytes);
    }

    /// <summary>The console for a live bar on stderr, when <c>--progress auto</c> (the default) runs on a terminal; else null.</summary>
    public static IAnsiConsole? TerminalConsole(CommandLine command) =>
        command.Verb == "run" && (command["progress"] ?? "auto") == "auto" && !Console.IsErrorRedirected && !Console.IsOutputRedirected
            ? AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error), Interactive = InteractionSupport.Yes })
            : null;

    /// <summary>Shows progress until <paramref name="finished"/> is cancelled: a bar on <paramref name="console"/>, or plain lines to <paramref name="logger"/>.</summary>
    public async Task RunAsync(string mode, IAnsiConsole? console, ILogger logger, CancellationToken finished)
    {
        if (_files.Count == 0 || mode == "off")
        {
            return;
        }

        if (console is not null && mode == "auto")
        {
            await ShowBarsAsync(console, finished).ConfigureAwait(false);
            return;
        }

        while (await Wait(PlainInterval, finished).ConfigureAwait(false))
        {
            foreach ((StreamProgress progress, _) in _files.Where(f => f.Progress.Phase == StreamPhase.Running))
            {
                logger.LogInformation("progress: {Line}", Describe(progress));
            }

            if (_files.Count > 1)
            {
                logger.LogInformation("progress: {Line}", Overall());
            }
        }
    }

    private async Task ShowBarsAsync(IAnsiConsole console, CancellationToken finished)
    {
        await console.Progress()
            .AutoClear(false)
            .HideCompleted(_files.Count > 1)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                ProgressTask? overall = _files.Count > 1 ? context.AddTask("overall", maxValue: 1000) : null;
                var tasks = new Dictionary<StreamProgress, ProgressTask>();
                do
                {
                    foreach ((StreamProgress progress, _) in _files.Where(f => f.Progress.Phase != StreamPhase.Waiting))
                    {
                        if (!tasks.TryGetValue(progress, out ProgressTask? task))
                        {
                            task = tasks[progress] = context.AddTask(Markup.Escape(Path.GetFileName(progress.Input)), maxValue: Math.Max(1, progress.TotalFrames));
                        }

                        task.MaxValue = Math.Max(Math.Max(1, progress.TotalFrames), progress.Written);
                        task.IsIndeterminate = progress.TotalFrames == 0;
                        task.Value = progress.Written;
                        task.Description = Markup.Escape(Describe(progress));
                        if (progress.Phase != StreamPhase.Running && !task.IsFinished)
                        {
                            task.Value = task.MaxValue;
                            task.StopTask();
                        }
                    }

                    if (overall is not null)
                    {
                        overall.Value = Math.Round(Fraction() * 1000);
                        overall.Description = Markup.Escape(Overall());
                    }
                }
                while (await Wait(TimeSpan.FromMilliseconds(250), finished).ConfigureAwait(false));
            }).ConfigureAwait(false);
    }

    /// <summary><c>door.mp4: 120/150 frames (80 %), 38.2 fps, 30 % deblurred, ETA 0:00:01</c></summary>
    public static string Describe(StreamProgress progress)
    {
        double seconds = Math.Max(progress.Elapsed.TotalSeconds, 1e-3);
        double fps = progress.Written / seconds;
        string total = progress.TotalFrames > 0 ? $"/{progress.TotalFrames}" : "";
        string percent = progress.TotalFrames > 0 ? $" ({100.0 * progress.Written / progress.TotalFrames:F0} %)" : "";
        string deblurred = progress.Written > 0 ? $"{100.0 * progress.Deblurred / progress.Written:F0} %" : "0 %";
        string eta = progress.Phase != StreamPhase.Running ? progress.Phase.ToString().ToLowerInvariant()
            : progress.TotalFrames > 0 && fps > 0 ? "ETA " + Clock(TimeSpan.FromSeconds(Math.Max(0, progress.TotalFrames - progress.Written) / fps))
            : "ETA ?";
        return string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(progress.Input)}: {progress.Written}{total} frames{percent}, {fps:F1} fps, {deblurred} deblurred, {eta}");
    }

    /// <summary><c>overall: 2 of 5 files done, 41 %, 35.0 fps, ETA 0:00:30</c>, the share weighed by the files' sizes.</summary>
    private string Overall()
    {
        double fraction = Fraction();
        TimeSpan elapsed = DateTime.UtcNow - _started;
        int done = _files.Count(f => f.Progress.Phase is not (StreamPhase.Waiting or StreamPhase.Running));
        double fps = _files.Sum(f => f.Progress.Written) / Math.Max(elapsed.TotalSeconds, 1e-3);
        string eta = fraction > 0 ? Clock(elapsed * ((1 - fraction) / fraction)) : "?";
        return string.Create(CultureInfo.InvariantCulture, $"overall: {done} of {_files.Count} files done, {100 * fraction:F0} %, {fps:F1} fps, ETA {eta}");
    }

    private double Fraction() => _files.Sum(f => f.Bytes * f.Progress.Phase switch
    {
        StreamPhase.Waiting => 0.0,
        StreamPhase.Running => f.Progress.TotalFrames > 0 ? Math.Min(1.0, (double)f.Progress.Written / f.Progress.TotalFrames) : 0.0,
        _ => 1.0,
    }) / _totalBytes;

    private static string Clock(TimeSpan span) => span.TotalHours >= 100 ? ">99 h" : $"{(int)span.TotalHours}:{span.Minutes:D2}:{span.Seconds:D2}";

    /// <summary>Waits; false once <paramref name="finished"/> is cancelled.</summary>
    private static async Task<bool> Wait(TimeSpan interval, CancellationToken finished)
    {
        try
        {
            await Task.Delay(interval, finished).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
