using System.Threading.Channels;

namespace StreamDeblur.Stages;

/// <summary>
/// The meeting point of one stream's two paths: sharp frames come straight from the router, blurry frames
/// come back from the shared deblur stage. The ready channel completes once the router has finished and
/// every frame it sent to be deblurred has come back.
/// </summary>
public sealed class StreamTail
{
    private readonly Channel<Frame> _ready;
    private int _holders = 1; // the router

    public StreamTail(string streamId, int capacity)
    {
        StreamId = streamId;
        _ready = PipelineChannels.Lossless<Frame>(capacity, singleReader: true, singleWriter: false);
    }

    public string StreamId { get; }

    public ChannelReader<Frame> Ready => _ready.Reader;

    /// <summary>Sequence numbers that were dropped before reaching the tail.</summary>
    public DropLedger Drops { get; } = new();

    /// <summary>Called by the router before it sends a frame down the deblur path.</summary>
    public void FrameSentToDeblur() => Interlocked.Increment(ref _holders);

    /// <summary>Writes a frame that took the sharp path (router) or came back from the deblur path.</summary>
    public ValueTask WriteAsync(Frame frame, CancellationToken cancellationToken) => _ready.Writer.WriteAsync(frame, cancellationToken);

    /// <summary>Called once per frame back from the deblur path, and once by the router when it ends.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _holders) == 0)
        {
            _ready.Writer.TryComplete();
        }
    }

    /// <summary>Ends the tail at once (a fault upstream); frames still on the deblur path are dropped on return.</summary>
    public void Fail(Exception error) => _ready.Writer.TryComplete(error);

    /// <summary>Returns a deblurred frame to its stream.</summary>
    public async ValueTask ReturnFromDeblurAsync(Frame frame, CancellationToken cancellationToken)
    {
        try
        {
            await _ready.Writer.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            PipelineMetrics.FramesDropped.WithLabels(frame.StreamId, "stream_failed").Inc();
            frame.Dispose();
        }
        finally
        {
            Release();
        }
    }
}
