using System.Diagnostics;
using System.Threading.Channels;

namespace StreamDeblur.Stages;

/// <summary>The end of a stream's line: writes each in-order frame to every sink, reports it, counts it by route, and disposes it.</summary>
public sealed class EncoderStage(string streamId, IReadOnlyList<IFrameSink> sinks, FrameReport? report, StreamProgress? progress = null)
{
    public long FramesWritten { get; private set; }

    /// <summary>The frames written so far, by route.</summary>
    public StreamProgress Progress { get; } = progress ?? new StreamProgress(streamId, "");

    public async Task RunAsync(ChannelReader<Frame> input, CancellationToken cancellationToken)
    {
        try
        {
            while (await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (input.TryRead(out Frame? frame))
                {
                    using (frame)
                    {
                        long start = Stopwatch.GetTimestamp();
                        foreach (IFrameSink sink in sinks)
                        {
                            sink.Write(frame);
                        }

                        double latency = frame.AgeSeconds;
                        PipelineMetrics.StageDuration.WithLabels("encode").Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);
                        PipelineMetrics.FrameLatency.WithLabels(streamId).Observe(latency);
                        PipelineMetrics.FramesWritten.WithLabels(streamId).Inc();
                        report?.Write(frame, latency);
                        Progress.Count(frame.Route);
                        FramesWritten++;
                    }
                }
            }
        }
        finally
        {
            PipelineChannels.DisposeRemaining(input);

            // Finalise every output so that what was written stays playable.
            foreach (IFrameSink sink in sinks)
            {
                sink.Complete();
            }

            report?.Flush();
        }
    }
}
