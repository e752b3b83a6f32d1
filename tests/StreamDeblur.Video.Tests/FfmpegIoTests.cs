using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using StreamDeblur.Video;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>The ffmpeg I/O path on a real H.264 file: I420 frames in, a mix of I420 and BGR frames out.</summary>
public sealed class FfmpegIoTests
{
    private sealed class NoObserver : ISourceStateObserver
    {
        public void OnStateChanged(string streamId, SourceState state, string? detail)
        {
        }
    }

    [Fact]
    public async Task Frames_cross_as_I420_and_deblur_style_BGR_frames_mix_in_without_colour_or_order_errors()
    {
        string dir = TestPaths.TempDir("ffmpeg-io");
        string output = Path.Combine(dir, "out.mkv");
        ProbeResult probe = FfProbe.Probe(TestPaths.SampleClip);

        await using var source = new FfmpegFrameSource("io", TestPaths.SampleClip, isLive: false, new ReconnectOptions(), NullLogger.Instance, new NoObserver());
        await source.OpenAsync(CancellationToken.None);
        var channel = Channel.CreateBounded<Frame>(4);
        Task run = source.RunAsync(channel.Writer, CancellationToken.None);
        using (var sink = new FfmpegFileSink("io", output, source.Info.FramesPerSecond, EncoderSettings.For(new StreamOptions(), "mpeg4"), audioFrom: null, NullLogger.Instance))
        {
            await foreach (Frame frame in channel.Reader.ReadAllAsync())
            {
                using (frame)
                {
                    Assert.Equal(PixelLayout.I420, frame.Layout);
                    Assert.Equal((probe.Width, probe.Height), (frame.Width, frame.Height));
                    if (frame.Sequence % 3 == 0)
                    {
                        frame.ToBgr(); // what the network does to a blurry frame
                    }

                    sink.Write(frame);
                }
            }

            await run;
            sink.Complete();
            sink.Publish();
        }

        ProbeResult written = FfProbe.Probe(output);
        Assert.Equal(probe.Frames, written.Frames);
        Assert.Equal((probe.Width, probe.Height), (written.Width, written.Height));

        // Each output frame matches the input frame at the same index (decoded independently by OpenCV):
        // a swapped colour order, a wrong plane layout or a reordered frame would each fail this.
        using var original = new VideoCapture(TestPaths.SampleClip);
        using var encoded = new VideoCapture(output);
        using var a = new Mat();
        using var b = new Mat();
        double worst = double.MaxValue;
        for (int i = 0; i < probe.Frames; i++)
        {
            Assert.True(original.Read(a) && encoded.Read(b), $"frame {i} missing");
            worst = Math.Min(worst, Cv2.PSNR(a, b));
        }

        Assert.True(worst > 28, $"worst frame PSNR against the input {worst:F1} dB");
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task The_blur_score_of_an_I420_frame_matches_that_of_the_same_frame_in_BGR()
    {
        await using var source = new FfmpegFrameSource("score", TestPaths.SampleClip, isLive: false, new ReconnectOptions(), NullLogger.Instance, new NoObserver());
        await source.OpenAsync(CancellationToken.None);
        var channel = Channel.CreateBounded<Frame>(4);
        using var cancel = new CancellationTokenSource();
        Task run = source.RunAsync(channel.Writer, cancel.Token);
        using var estimator = new BlurEstimator(new BlurOptions());
        var ratios = new List<double>();
        await foreach (Frame frame in channel.Reader.ReadAllAsync())
        {
            using (frame)
            {
                double yuvScore;
                using (Mat view = frame.AnalysisView())
                {
                    yuvScore = estimator.Measure(view, limitedRangeLuma: true).Sharpness;
                }

                double bgrScore = estimator.Measure(frame.ToBgr()).Sharpness;
                ratios.Add(yuvScore / bgrScore);
            }

            if (ratios.Count == 20)
            {
                break;
            }
        }

        cancel.Cancel();
        try
        {
            await run;
        }
        catch (OperationCanceledException)
        {
        }

        while (channel.Reader.TryRead(out Frame? left))
        {
            left.Dispose();
        }

        Assert.All(ratios, r => Assert.InRange(r, 0.9, 1.1));
    }

    [Fact]
    public async Task A_paced_file_is_read_at_the_pace_and_ends_even_when_replayed_as_live()
    {
        ProbeResult probe = FfProbe.Probe(TestPaths.SampleClip);
        const double pace = 100;
        await using var source = new FfmpegFrameSource("paced", TestPaths.SampleClip, isLive: true, new ReconnectOptions(), NullLogger.Instance, new NoObserver(), paceFps: pace);
        await source.OpenAsync(CancellationToken.None);
        var channel = Channel.CreateUnbounded<Frame>();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await source.RunAsync(channel.Writer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        double seconds = watch.Elapsed.TotalSeconds;
        int count = 0;
        while (channel.Reader.TryRead(out Frame? frame))
        {
            frame.Dispose();
            count++;
        }

        Assert.Equal(probe.Frames, count);
        await channel.Reader.Completion; // completed without an error: the file ended, no reconnect
        Assert.InRange(seconds, (probe.Frames - 1) / pace * 0.95, (probe.Frames / pace) + 3);
    }
}
