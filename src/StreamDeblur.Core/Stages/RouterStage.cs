using System.Threading.Channels;

namespace StreamDeblur.Stages;

/// <summary>
/// Judges each scored frame with the stream's adaptive threshold and routes it (<see cref="RouteDispatcher"/>):
/// sharp frames go straight to the stream's tail, blurry frames to the shared batcher. On a fixed-camera
/// stream it only judges, and the frames go on in order to the reference keeper, which routes them.
/// </summary>
public sealed class RouterStage(string streamId, BlurOptions blurOptions, bool isLive, TimeSpan latencyBudget)
{
    private readonly BlurThreshold _threshold = new(blurOptions);
    private readonly RouteDispatcher _dispatcher = new(streamId, isLive, latencyBudget);

    public Task RunAsync(ChannelReader<Frame> input, StreamTail tail, ChannelWriter<Frame> blurry, CancellationToken cancellationToken) =>
        _dispatcher.RunAsync(input, tail, blurry, Judge, cancellationToken);

    /// <summary>Judges every frame and writes it, in order, to <paramref name="judged"/> (fixed-camera streams).</summary>
    public Task RunAsync(ChannelReader<Frame> input, ChannelWriter<Frame> judged, CancellationToken cancellationToken) =>
        PipelineChannels.ForEachAsync(input, judged, Judge, cancellationToken);

    private void Judge(Frame frame)
    {
        bool isBlurry = _threshold.Judge(frame.Blur.Sharpness);
        frame.Blur = frame.Blur with { Baseline = _threshold.Baseline, IsBlurry = isBlurry };
        PipelineMetrics.Sharpness.WithLabels(streamId).Observe(frame.Blur.Sharpness);
    }
}
