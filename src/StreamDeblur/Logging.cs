using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Spectre.Console;

namespace StreamDeblur.App;

/// <summary>
/// One-line console logs on stderr, so stdout stays free for results. While a live progress bar is drawn on
/// the terminal, the same lines go through its console, which prints them above the bar instead of through it.
/// </summary>
public static class Logging
{
    public static ILoggerFactory Create(string? level, IAnsiConsole? progressConsole = null)
    {
        LogLevel minimum = level?.ToLowerInvariant() switch
        {
            null or "" or "info" or "information" => LogLevel.Information,
            "debug" => LogLevel.Debug,
            "trace" => LogLevel.Trace,
            "warning" or "warn" => LogLevel.Warning,
            "error" => LogLevel.Error,
            _ => throw new UsageException($"--log-level must be one of debug, info, warning, error, not '{level}'"),
        };

        return LoggerFactory.Create(builder =>
        {
            builder.SetMinimumLevel(minimum).AddFilter("Microsoft", LogLevel.Warning);
            if (progressConsole is not null)
            {
                builder.AddProvider(new AnsiConsoleLoggerProvider(progressConsole));
                return;
            }

            builder
                .AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "HH:mm:ss.fff ";
                    o.ColorBehavior = LoggerColorBehavior.Disabled;
                })
                .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        });
    }

    /// <summary>The simple console format (<c>HH:mm:ss.fff info: category[0] message</c>), written through a Spectre console.</summary>
    private sealed class AnsiConsoleLoggerProvider(IAnsiConsole console) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Writer(console, categoryName);

        public void Dispose()
        {
        }

        private sealed class Writer(IAnsiConsole console, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                string level = logLevel switch
                {
                    LogLevel.Trace => "trce",
                    LogLevel.Debug => "dbug",
                    LogLevel.Information => "info",
                    LogLevel.Warning => "warn",
                    LogLevel.Error => "fail",
                    _ => "crit",
                };
                string line = $"{DateTime.Now:HH:mm:ss.fff} {level}: {category}[{eventId.Id}] {formatter(state, exception)}";
                // Wrapped here, a row at a time: the live display above which it is printed counts rows, not wraps.
                int width = Math.Max(20, console.Profile.Width - 1);
                for (int at = 0; at < line.Length; at += width)
                {
                    console.WriteLine(line.Substring(at, Math.Min(width, line.Length - at)), Style.Plain);
                }
            }
        }
    }
}
