using Microsoft.Extensions.Logging;
using StreamDeblur;
using StreamDeblur.App;
using StreamDeblur.Inference;

// Entry point: parse, dispatch, and turn every expected failure into one clear line and a non-zero exit.
NativeMemory.LimitMallocArenas();
try
{
    CommandLine command = CommandLine.Parse(args);
    if (command.Verb == "help")
    {
        Console.WriteLine(CommandLine.Usage);
        return 0;
    }

    Spectre.Console.IAnsiConsole? progressConsole = ProgressDisplay.TerminalConsole(command);
    using ILoggerFactory loggers = Logging.Create(command["log-level"], progressConsole);
    return command.Verb switch
    {
        "run" => await RunCommand.ExecuteAsync(command, loggers, progressConsole),
        "compare" => CompareCommand.Execute(command, loggers),
        "eval" => EvalCommand.Execute(command, loggers),
        "bench" => await BenchCommand.ExecuteAsync(command, loggers),
        "shards" => ShardsCommand.Execute(command),
        _ => throw new UsageException($"unknown command '{command.Verb}'"),
    };
}
catch (UsageException ex)
{
    Console.Error.WriteLine($"streamdeblur: {ex.Message}");
    Console.Error.WriteLine(CommandLine.Usage);
    return 2;
}
catch (ConfigException ex)
{
    Console.Error.WriteLine($"streamdeblur: error: {UrlRedactor.Redact(ex.Message)}");
    return 2;
}
catch (Exception ex) when (ex is SourceException or SinkException or ModelException)
{
    Console.Error.WriteLine($"streamdeblur: error: {UrlRedactor.Redact(ex.Message)}");
    return 1;
}
catch (Exception ex)
{
    Console.Error.WriteLine($"streamdeblur: unexpected error: {ex.GetType().Name}: {UrlRedactor.Redact(ex.Message)}");
    if (Environment.GetEnvironmentVariable("STREAMDEBLUR_DEBUG") == "1")
    {
        Console.Error.WriteLine(ex);
    }

    return 70;
}
