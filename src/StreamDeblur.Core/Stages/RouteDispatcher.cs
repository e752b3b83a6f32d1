using System.Threading.Channels;

namespace StreamDeblur.Stages;

/// <summary>
/// Sends a judged frame on: a sharp frame straight to its stream's tail, a blurry frame to the shared batcher.
/// For live streams a blurry frame that is already over half the latency budget, or that finds the batcher's
/// queue full, passes through undeblurred (counted as skipped, reason "overload"); file streams always wait, so
/// nothing is skipped. The router does this for every stream, or the reference keeper for fixed-camera streams.
/// </summary>
public sealed class RouteDispatcher(string streamId, bool isLive, TimeSpan latencyBudget)
{
    /// <summary>
    /// The routing stage's loop: each frame of <paramref name="input"/>, in order, is prepared (the router's verdict, the
    /// keeper's reference) and dispatched. A fault disposes what is queued and fails the tail; the end releases the
    /// loop's hold on the tail.
    /// </summary>
    public async Task RunAsync(ChannelReader<Frame> input, StreamTail tail, ChannelWriter<Frame> blurry, Action<Frame> prepare, CancellationToken cancellationToken)
    {
        try
        {
            while (await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (input.TryRead(out Frame? frame))
                {
                    try
                    {
                        prepare(frame);
                    }
                    catch
                    {
                        frame.Dispose();
                        throw;
                    }

                    await DispatchAsync(frame, tail, blurry, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            PipelineChannels.DisposeRemaining(input);
            tail.Fail(ex);
            throw;
        }
        finally
        {
            tail.Release();
        }
    }

    public async ValueTask DispatchAsync(Frame frame, StreamTail tail, ChannelWriter<Frame> blurry, CancellationToken cancellationToken)
    {
        if (!frame.Blur.IsBlurry)
        {
            frame.Route = FrameRoute.Sharp;
            PipelineMetrics.FramesPassed.WithLabels(streamId).Inc();
            await WriteOrDisposeAsync(tail, frame, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (isLive)
        {
            bool late = IsLate(frame);
            tail.FrameSentToDeblur();
            if (late || !blurry.TryWrite(frame))
            {
                tail.Release();
                frame.ReleaseReference();
                frame.Route = FrameRoute.SkippedOverload;
                PipelineMetrics.FramesSkipped.WithLabels(streamId, "overload").Inc();
                await WriteOrDisposeAsync(tail, frame, cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        tail.FrameSentToDeblur();
        try
        {
            await blurry.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            tail.Release();
            frame.Dispose();
            throw;
        }
    }

    /// <summary>True for a live stream (frames may be skipped or dropped), false for a file (everything waits).</summary>
    public bool IsLive => isLive;

    /// <summary>A live frame already over half the latency budget: if blurry, it passes through without the network.</summary>
    public bool IsLate(Frame frame) => isLive && frame.AgeSeconds > latencyBudget.TotalSeconds / 2;

    /// <summary>
    /// A live frame already over a quarter of the latency budget, or one with frames queued behind it in
    /// <paramref name="waiting"/> (the stage is behind its source, whose queue drops the oldest when full): optional
    /// work before the network (verified fusion) is skipped for it. Files are never behind: they wait.
    /// </summary>
    public bool IsBehind(Frame frame, ChannelReader<Frame>? waiting = null) =>
        isLive && (frame.AgeSeconds > latencyBudget.TotalSeconds / 4 || (waiting is { CanCount: true } && waiting.Count > 0));

    private static async ValueTask WriteOrDisposeAsync(StreamTail tail, Frame frame, CancellationToken cancellationToken)
    {
        try
        {
            await tail.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            frame.Dispose();
            throw;
        }
    }
}
