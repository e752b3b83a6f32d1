using System.Threading.Channels;

namespace StreamDeblur.Stages;

/// <summary>Puts one stream's frames back in sequence order, skipping the sequence numbers recorded as dropped.</summary>
public sealed class ReorderStage(string streamId)
{
    public async Task RunAsync(StreamTail tail, ChannelWriter<Frame> output, CancellationToken cancellationToken)
    {
        using var buffer = new ReorderBuffer(tail.Drops);
        Exception? error = null;
        try
        {
            ChannelReader<Frame> input = tail.Ready;
            while (await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (input.TryRead(out Frame? frame))
                {
                    buffer.Add(frame);
                    while (buffer.TryTakeNext(out Frame next))
                    {
                        await WriteOrDisposeAsync(output, next, cancellationToken).ConfigureAwait(false);
                    }
                }

                PipelineMetrics.QueueDepth.WithLabels("reorder", streamId).Set(buffer.PendingCount);
            }
        }
        catch (Exception ex)
        {
            error = ex;
        }
        finally
        {
            // Whatever is still held (after a fault, or with gaps) goes out in order rather than being lost.
            if (buffer.PendingCount > 0 && error is not OperationCanceledException)
            {
                await FlushInOrderAsync(buffer, output).ConfigureAwait(false);
            }

            output.TryComplete(error is OperationCanceledException ? null : error);
        }
    }

    private static async Task FlushInOrderAsync(ReorderBuffer buffer, ChannelWriter<Frame> output)
    {
        while (buffer.PendingCount > 0)
        {
            if (!buffer.TryTakeNext(out Frame next))
            {
                buffer.SkipGap();
                continue;
            }

            await WriteOrDisposeAsync(output, next, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async ValueTask WriteOrDisposeAsync(ChannelWriter<Frame> output, Frame frame, CancellationToken cancellationToken)
    {
        try
        {
            await output.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            frame.Dispose();
            throw;
        }
    }
}
