using System.Diagnostics;

namespace StreamDeblur;

/// <summary>Where a stream stands in a run.</summary>
public enum StreamPhase
{
    Waiting,
    Running,
    Done,
    Stopped,
    Failed,
}

/// <summary>
/// One stream's live counts, by route, written by its encoder stage and read by the progress display and the
/// provenance record. Thread-safe: one writer, any number of readers.
/// </summary>
public sealed class StreamProgress(string streamId, string input)
{
    private long _written;
    private long _sharp;
    private long _deblurred;
    private long _skippedOverload;
    private long _skippedError;
    private long _startedAt;
    private long _endedAt;

    public string StreamId { get; } = streamId;

    public string Input { get; } = input;

    /// <summary>The frames the container announces (0 when unknown, as for live streams).</summary>
    public long TotalFrames { get; set; }

    public StreamPhase Phase { get; private set; }

    public long Written => Volatile.Read(ref _written);

    public long Sharp => Volatile.Read(ref _sharp);

    public long Deblurred => Volatile.Read(ref _deblurred);

    public long SkippedOverload => Volatile.Read(ref _skippedOverload);

    public long SkippedError => Volatile.Read(ref _skippedError);

    /// <summary>Time since the stream started (to its end once it ended).</summary>
    public TimeSpan Elapsed
    {
        get
        {
            long started = Volatile.Read(ref _startedAt);
            long ended = Volatile.Read(ref _endedAt);
            return started == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(started, ended == 0 ? Stopwatch.GetTimestamp() : ended);
        }
    }

    public void Start()
    {
        Volatile.Write(ref _startedAt, Stopwatch.GetTimestamp());
        Phase = StreamPhase.Running;
    }

    public void End(StreamPhase phase)
    {
        if (Volatile.Read(ref _startedAt) == 0)
        {
            Volatile.Write(ref _startedAt, Stopwatch.GetTimestamp());
        }

        Volatile.Write(ref _endedAt, Stopwatch.GetTimestamp());
        Phase = phase;
    }

    /// <summary>Counts one written frame by the route it took.</summary>
    public void Count(FrameRoute route)
    {
        _ = route switch
        {
            FrameRoute.Deblurred => Interlocked.Increment(ref _deblurred),
            FrameRoute.SkippedOverload => Interlocked.Increment(ref _skippedOverload),
            FrameRoute.SkippedError => Interlocked.Increment(ref _skippedError),
            _ => Interlocked.Increment(ref _sharp),
        };
        Interlocked.Increment(ref _written);
    }
}
