using Microsoft.Extensions.Logging;

namespace StreamDeblur.App;

/// <summary><c>streamdeblur bench</c>: whole-pipeline benchmarks (see bench/README.md).</summary>
public static class BenchCommand
{
    public static Task<int> ExecuteAsync(CommandLine command, ILoggerFactory loggers) =>
        throw new UsageException("bench is not available in this build yet");
}
