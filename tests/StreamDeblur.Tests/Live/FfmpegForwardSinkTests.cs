using System.Diagnostics;
using OpenCvSharp;
using StreamDeblur.Video;
using Xunit;

namespace StreamDeblur.Tests.Live;

/// <summary>The live forward, received by a real ffmpeg acting as an RTSP or RTMP server on loopback.</summary>
[Collection("Live")]
public sealed class FfmpegForwardSinkTests
{
    [Theory]
    [InlineData("rtsp")]
    [InlineData("rtmp")]
    public async Task Forwards_h264_that_a_real_server_receives(string protocol)
    {
        string dir = TestPaths.TempDir("forward");
        int port = TestPaths.FreePort();
        string received = Path.Combine(dir, protocol == "rtsp" ? "received.mkv" : "received.flv");
        string url = protocol == "rtsp" ? $"rtsp://127.0.0.1:{port}/live" : $"rtmp://127.0.0.1:{port}/live/cam";
        string[] listen = protocol == "rtsp" ? ["-rtsp_flags", "listen", "-i", url] : ["-listen", "1", "-i", url];
        using Process receiver = Process.Start(new ProcessStartInfo("ffmpeg", ["-hide_banner", "-loglevel", "error", .. listen, "-c", "copy", "-y", received])
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        Task<string> receiverErrors = receiver.StandardError.ReadToEndAsync();
        Thread.Sleep(500);

        using var logs = new CapturingLoggerProvider();
        const int frames = 60;
        using (var sink = new FfmpegForwardSink("fwd-" + protocol, url, new VideoInfo(320, 240, 15, 0, true), logs.CreateLogger("t")))
        {
            for (int i = 0; i < frames; i++)
            {
                using Frame frame = MovingSquare(i);
                sink.Write(frame);
                Thread.Sleep(1000 / 15);
            }

            sink.Complete();
            Assert.True(sink.FramesForwarded > frames / 2, $"{sink.FramesForwarded} of {frames} frames reached ffmpeg\n{logs.AllText}");
        }

        Assert.True(receiver.WaitForExit(15000), "the receiver did not see the end of the stream");
        Assert.True(receiver.ExitCode == 0, await receiverErrors);
        ProbeResult probe = FfProbe.Probe(received);
        Assert.Equal("h264", probe.Codec);
        Assert.Equal((320, 240), (probe.Width, probe.Height));
        Assert.InRange(probe.Frames, frames / 2, frames);
    }

    [Fact]
    public void Write_never_blocks_and_counts_every_frame_it_cannot_forward()
    {
        int port = TestPaths.FreePort(); // nobody listens: ffmpeg fails and is restarted with backoff
        string id = "fwd-down-" + Guid.NewGuid().ToString("N")[..8];
        using var logs = new CapturingLoggerProvider();
        const int frames = 120;
        var slowest = TimeSpan.Zero;
        long forwarded;
        using (var sink = new FfmpegForwardSink(id, $"rtsp://user:pw@127.0.0.1:{port}/x", new VideoInfo(320, 240, 15, 0, true), logs.CreateLogger("t")))
        {
            for (int i = 0; i < frames; i++)
            {
                using Frame frame = MovingSquare(i);
                var watch = Stopwatch.StartNew();
                sink.Write(frame);
                slowest = watch.Elapsed > slowest ? watch.Elapsed : slowest;
                Thread.Sleep(10);
            }

            sink.Complete();
            forwarded = sink.FramesForwarded;
            Assert.True(sink.Starts >= 2, $"ffmpeg was started {sink.Starts} times; it must be restarted after it dies");
        }

        double dropped = PipelineMetrics.FramesDropped.WithLabels(id, "forward_queue_full").Value
            + PipelineMetrics.FramesDropped.WithLabels(id, "forward_unavailable").Value
            + PipelineMetrics.FramesDropped.WithLabels(id, "forward_error").Value;
        Assert.True(slowest < TimeSpan.FromMilliseconds(100), $"a write took {slowest.TotalMilliseconds:F0} ms");
        Assert.True(dropped > 0);

        // Every frame is accounted for: handed to ffmpeg's pipe (then lost with it) or counted as dropped.
        Assert.Equal(frames, dropped + forwarded);
        Assert.DoesNotContain("pw@", logs.AllText);
    }

    internal static Frame MovingSquare(int index, int width = 320, int height = 240)
    {
        var image = new Mat(height, width, MatType.CV_8UC3, Scalar.All(40));
        int x = index * 5 % (width - 40);
        Cv2.Rectangle(image, new Rect(x, 100, 40, 40), Scalar.White, -1);
        return new Frame("fwd", index, TimeSpan.FromSeconds(index / 15.0), image);
    }
}
