using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace StreamDeblur.Tests.Live;

/// <summary>Keeps every formatted log line (with its exception) so tests can search what was logged.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider, ILoggerFactory
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public string AllText => string.Join('\n', _lines);

    public ILogger CreateLogger(string categoryName) => new CapturingLogger(categoryName, _lines);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class CapturingLogger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
        }
    }
}

/// <summary>Records every state a source reports, in order.</summary>
public sealed class RecordingObserver : ISourceStateObserver
{
    private readonly ConcurrentQueue<(string Stream, SourceState State, string? Detail)> _events = new();

    public IReadOnlyList<(string Stream, SourceState State, string? Detail)> Events => _events.ToArray();

    public IEnumerable<SourceState> States => _events.Select(e => e.State);

    public void OnStateChanged(string streamId, SourceState state, string? detail) => _events.Enqueue((streamId, state, detail));
}
