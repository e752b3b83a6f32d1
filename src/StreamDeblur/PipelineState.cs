using System.Collections.Concurrent;

namespace StreamDeblur.App;

/// <summary>The states a stream's source reports, for /readyz and the stream_up metric.</summary>
public enum StreamHealth
{
    Starting,
    Up,
    Reconnecting,
    Stalled,
    Ended,
    Failed,
}

/// <summary>Which shard a replica is, the streams it holds, and how many the config has (<see cref="ShardSelection"/>).</summary>
public sealed record ShardReport(int Index, int Count, IReadOnlyList<string> Held, int Configured)
{
    public string? Detail => Held.Count == 0 ? $"shard {Index} of {Count} holds none of the {Configured} configured streams; it stays ready for a rescale" : null;
}

/// <summary>What the health endpoints report: whether the model is warm, each stream's state, and the shard. Thread-safe.</summary>
public sealed class PipelineState : ISourceStateObserver
{
    private readonly ConcurrentDictionary<string, (StreamHealth Health, DateTimeOffset Since, string? Detail)> _streams = new(StringComparer.Ordinal);

    public bool ModelReady { get; set; }

    public string? Provider { get; set; }

    /// <summary>This replica's shard; index 0 of 1 holding every stream when the run is not sharded.</summary>
    public ShardReport? Shard { get; set; }

    public IReadOnlyDictionary<string, (StreamHealth Health, DateTimeOffset Since, string? Detail)> Streams => _streams;

    public void Report(string streamId, StreamHealth health, string? detail = null)
    {
        bool changed = true;
        _streams.AddOrUpdate(
            streamId,
            _ => (health, DateTimeOffset.UtcNow, detail),
            (_, old) =>
            {
                changed = old.Health != health;
                return changed ? (health, DateTimeOffset.UtcNow, detail) : old with { Detail = detail };
            });
        PipelineMetrics.StreamUp.WithLabels(streamId).Set(health == StreamHealth.Up ? 1 : 0);
        if (changed)
        {
            // A new detail in the same state (another reconnect attempt) is not a transition.
            PipelineMetrics.StreamTransitions.WithLabels(streamId, health.ToString().ToLowerInvariant()).Inc();
        }
    }

    public void StreamEnded(string streamId)
    {
        if (!_streams.TryGetValue(streamId, out var current) || current.Health is not StreamHealth.Failed)
        {
            Report(streamId, StreamHealth.Ended);
        }
    }

    void ISourceStateObserver.OnStateChanged(string streamId, SourceState state, string? detail) => Report(streamId, state switch
    {
        SourceState.Connecting => StreamHealth.Starting,
        SourceState.Up => StreamHealth.Up,
        SourceState.Reconnecting => StreamHealth.Reconnecting,
        SourceState.Stalled => StreamHealth.Stalled,
        SourceState.Failed => StreamHealth.Failed,
        _ => StreamHealth.Ended,
    }, detail);

    /// <summary>Ready once the model is warm and no stream has failed for good.</summary>
    public bool IsReady => ModelReady && _streams.Values.All(s => s.Health is not StreamHealth.Failed);
}
