using OpenCvSharp;
using System.Diagnostics;
using System.Threading.Channels;

namespace StreamDeblur.Video;

/// <summary>
/// Scores every frame of one stream for blur (see <see cref="BlurEstimator"/>). The motion cue is measured only
/// when <paramref name="motionCue"/> is set, that is when a frame report will carry it.
/// </summary>
public sealed class BlurEstimatorStage(BlurOptions options, bool motionCue) : IDisposable
{
    private readonly BlurEstimator _estimator = new(options);

    public Task RunAsync(ChannelReader<Frame> input, ChannelWriter<Frame> output, CancellationToken cancellationToken) =>
        PipelineChannels.ForEachAsync(input, output, Score, cancellationToken);

    private void Score(Frame frame)
    {
        long start = Stopwatch.GetTimestamp();
        using (Mat view = frame.AnalysisView())
        {
            frame.Blur = _estimator.Measure(view, limitedRangeLuma: frame.Layout == PixelLayout.I420, motionCue);
        }

        frame.EstimateSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        PipelineMetrics.StageDuration.WithLabels("estimate").Observe(frame.EstimateSeconds);
    }

    public void Dispose() => _estimator.Dispose();
}
