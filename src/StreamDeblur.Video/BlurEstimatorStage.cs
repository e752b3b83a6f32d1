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

    public async Task RunAsync(ChannelReader<Frame> input, ChannelWriter<Frame> output, CancellationToken cancellationToken)
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
                        long start = Stopwatch.GetTimestamp();
                        using (Mat view = frame.AnalysisView())
                        {
                            frame.Blur = _estimator.Measure(view, limitedRangeLuma: frame.Layout == PixelLayout.I420, motionCue);
                        }

                        frame.EstimateSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                        PipelineMetrics.StageDuration.WithLabels("estimate").Observe(frame.EstimateSeconds);
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
            PipelineChannels.DisposeRemaining(input);
        }
        finally
        {
            output.TryComplete(error is OperationCanceledException ? null : error);
        }
    }

    public void Dispose() => _estimator.Dispose();
}
