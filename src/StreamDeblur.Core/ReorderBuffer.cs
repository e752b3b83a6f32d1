namespace StreamDeblur;

/// <summary>
/// Puts one stream's frames back in sequence order. Frames arrive out of order because blurry frames
/// take the longer path through the batcher and the network. Sequence numbers recorded as dropped
/// are skipped. Not thread-safe: one owner.
/// </summary>
public sealed class ReorderBuffer : IDisposable
{
    private readonly SortedDictionary<long, Frame> _pending = [];
    private readonly DropLedger _drops;
    private long _next;

    public ReorderBuffer(DropLedger drops, long firstSequence = 0)
    {
        _drops = drops;
        _next = firstSequence;
    }

    public int PendingCount => _pending.Count;

    public long NextSequence => _next;

    /// <summary>Adds a frame; ownership passes to the buffer.</summary>
    public void Add(Frame frame)
    {
        if (frame.Sequence < _next || !_pending.TryAdd(frame.Sequence, frame))
        {
            throw new InvalidOperationException($"frame {frame} arrived twice or after its turn (next is {_next})");
        }
    }

    /// <summary>Takes the next in-order frame, if it is here; ownership passes to the caller.</summary>
    public bool TryTakeNext(out Frame frame)
    {
        while (true)
        {
            if (_pending.Remove(_next, out frame!))
            {
                _next++;
                return true;
            }

            if (_drops.Consume(_next))
            {
                _next++;
                continue;
            }

            frame = null!;
            return false;
        }
    }

    /// <summary>Gives up on the next missing sequence number (used only when flushing at the end).</summary>
    public void SkipGap()
    {
        if (_pending.Count > 0)
        {
            _next = _pending.Keys.First();
        }
    }

    public void Dispose()
    {
        foreach (Frame frame in _pending.Values)
        {
            frame.Dispose();
        }

        _pending.Clear();
    }
}

/// <summary>Sequence numbers of one stream that were dropped on the way and will never arrive. Thread-safe.</summary>
public sealed class DropLedger
{
    private readonly HashSet<long> _dropped = [];

    public void Record(long sequence)
    {
        lock (_dropped)
        {
            _dropped.Add(sequence);
        }
    }

    public bool Consume(long sequence)
    {
        lock (_dropped)
        {
            return _dropped.Remove(sequence);
        }
    }
}
