using System.Threading.Channels;

namespace StreamDeblur;

/// <summary>Creates the bounded channels that join the stages.</summary>
public static class PipelineChannels
{
    /// <summary>A bounded channel whose writer waits when full: backpressure, nothing lost.</summary>
    public static Channel<T> Lossless<T>(int capacity, bool singleReader = true, bool singleWriter = true) =>
        Channel.CreateBounded<T>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = singleReader,
            SingleWriter = singleWriter,
        });

    /// <summary>
    /// A bounded channel that drops its oldest frame when full (a leaky queue, for live sources).
    /// The dropped frame is handed to <paramref name="onDropped"/>, which now owns it.
    /// </summary>
    public static Channel<Frame> DropOldest(int capacity, Action<Frame> onDropped) =>
        Channel.CreateBounded(
            new BoundedChannelOptions(capacity)
            {
                FullMode = BoundedChannelFullMode.DropOldest,
                SingleReader = true,
                SingleWriter = true,
            },
            onDropped);

    /// <summary>
    /// A one-in, one-out stage's loop: <paramref name="work"/> on each frame in order, then the frame goes on. A fault
    /// (in the work or downstream) disposes the frame and what is still queued, and completes the output with it, so
    /// that it travels down the line; cancellation completes the output without one.
    /// </summary>
    public static async Task ForEachAsync(ChannelReader<Frame> input, ChannelWriter<Frame> output, Action<Frame> work, CancellationToken cancellationToken)
    {
        Exception? error = null;
        try
        {
            while (await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (input.TryRead(out Frame? frame))
                {
                    try
                    {
                        work(frame);
                        await output.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
                    }
                    catch
                    {
                        frame.Dispose();
                        throw;
                    }
                }
            }
        }
        catch (Exception ex)
        {
            error = ex;
            DisposeRemaining(input);
        }
        finally
        {
            output.TryComplete(error is OperationCanceledException ? null : error);
        }
    }

    /// <summary>Disposes every frame still queued in a channel, e.g. after a fault.</summary>
    public static void DisposeRemaining(ChannelReader<Frame> reader)
    {
        while (reader.TryRead(out Frame? frame))
        {
            frame.Dispose();
        }
    }
}

/// <summary>Completes a channel shared by several writers once the last of them is done.</summary>
public sealed class SharedWriterCompletion<T>(ChannelWriter<T> writer, int writers)
{
    private int _remaining = writers;
    private Exception? _firstError;

    public void WriterDone(Exception? error = null)
    {
        if (error is not null)
        {
            Interlocked.CompareExchange(ref _firstError, error, null);
        }

        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            writer.TryComplete(_firstError);
        }
    }
}
