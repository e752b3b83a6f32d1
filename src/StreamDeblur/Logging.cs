using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace StreamDeblur.App;

/// <summary>One-line console logs on stderr, so stdout stays free for results.</summary>
public static class Logging
{
    public static ILoggerFactory Create(string? level)
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

        return LoggerFactory.Create(builder => builder
            .SetMinimumLevel(minimum)
            .AddFilter("Microsoft", LogLevel.Warning)
            .AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
                o.ColorBehavior = LoggerColorBehavior.Disabled;
            })
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
    }
}
