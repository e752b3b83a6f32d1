namespace StreamDeblur;

/// <summary>The life of a source, as live sources report it.</summary>
public enum SourceState
{
    Connecting,
    Up,
    Stalled,
    Reconnecting,
    Ended,
    Failed,
}

/// <summary>Told of every state change of a source (for logs, metrics and health).</summary>
public interface ISourceStateObserver
{
    void OnStateChanged(string streamId, SourceState state, string? detail);
}
