using System.Threading.Channels;

namespace StreamDeblur.Stages;

/// <summary>
/// Judges each scored frame with the stream's adaptive threshold and routes it: sharp frames go straight to
/// the stream's tail, blurry frames to the shared batcher. For live streams a blurry frame that is already
/// over half the latency budget, or that finds the batcher's queue full, passes through undeblurred
/// (counted as skipped, reason "overload"); file streams always wait, so nothing is skipped.
/// </summary>
public sealed class RouterStage(string streamId, BlurOptions blurOptions, bool isLive, TimeSpan latencyBudget)
{
    private readonly BlurThreshold _threshold = new(blurOptions);

    public async Task RunAsync(ChannelReader<Frame> input, StreamTail tail, ChannelWriter<Frame> blurry, CancellationToken cancellationToken)
    {
        try
        {
            while (await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (input.TryRead(out Frame? frame))
                {
                    await RouteAsync(frame, tail, blurry, cancellationToken).ConfigureAwait(false);
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

    private async ValueTask RouteAsync(Frame frame, StreamTail tail, ChannelWriter<Frame> blurry, CancellationToken cancellationToken)
    {
        bool isBlurry = _threshold.Judge(frame.Blur.Sharpness);
        frame.Blur = frame.Blur with { Baseline = _threshold.Baseline, IsBlurry = isBlurry };
        PipelineMetrics.Sharpness.WithLabels(streamId).Observe(frame.Blur.Sharpness);

        if (!isBlurry)
        {
            frame.Route = FrameRoute.Sharp;
            PipelineMetrics.FramesPassed.WithLabels(streamId).Inc();
            await WriteOrDisposeAsync(tail, frame, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (isLive)
        {
            bool late = frame.AgeSeconds > latencyBudget.TotalSeconds / 2;
            tail.FrameSentToDeblur();
            if (late || !blurry.TryWrite(frame))
            {
                tail.Release();
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
