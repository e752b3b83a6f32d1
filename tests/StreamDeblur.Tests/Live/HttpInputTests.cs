using System.Diagnostics;
using System.Threading.Channels;
using StreamDeblur.App;
using StreamDeblur.Video;
using Xunit;

namespace StreamDeblur.Tests.Live;

/// <summary>http:// inputs: HLS read to its end (non-live, nothing dropped), and live MJPEG over HTTP.</summary>
[Collection("Live")]
public sealed class HttpInputTests
{
    private static readonly ReconnectOptions s_reconnect = new() { InitialDelaySeconds = 0.2, MaxDelaySeconds = 1, StallTimeoutSeconds = 3, OpenTimeoutSeconds = 6 };

    [Fact]
    public async Task Reads_every_frame_of_an_hls_playlist_over_http_when_not_live()
    {
        string dir = TestPaths.TempDir("hls");
        string playlist = Path.Combine(dir, "clip.m3u8");
        string clip = Path.Combine(dir, "clip.mp4");
        Run("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", TestPaths.SampleClip, "-t", "3", "-vf", "scale=192:144",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", clip);
        Run("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", clip, "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0", playlist);
        int expected = FfProbe.Probe(clip).Frames;
        Assert.True(expected >= 20);

        int port = TestPaths.FreePort();
        using Process http = Process.Start(new ProcessStartInfo("/usr/bin/python3", ["-m", "http.server", port.ToString(), "--bind", "127.0.0.1", "--directory", dir])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        try
        {
            await WaitForPortAsync(port);
            var observer = new RecordingObserver();
            using var logs = new CapturingLoggerProvider();
            await using var source = new FfmpegFrameSource("hls", $"http://127.0.0.1:{port}/clip.m3u8", isLive: false, s_reconnect, logs.CreateLogger("t"), observer);
            await source.OpenAsync(CancellationToken.None);
            Assert.False(source.Info.IsLive);
            Assert.Equal((192, 144), (source.Info.Width, source.Info.Height));

            // A bounded, lossless channel read slowly: the source must wait (backpressure), not drop, and not
            // mistake the wait for a stall.
            var channel = PipelineChannels.Lossless<Frame>(2);
            Task run = source.RunAsync(channel.Writer, CancellationToken.None);
            var sequences = new List<long>();
            await foreach (Frame frame in channel.Reader.ReadAllAsync())
            {
                using (frame)
                {
                    sequences.Add(frame.Sequence);
                    await Task.Delay(frame.Sequence == 5 ? 4000 : 0); // longer than stall_timeout_seconds
                }
            }

            await run;
            Assert.Equal(Enumerable.Range(0, expected).Select(i => (long)i), sequences);
            Assert.DoesNotContain(SourceState.Stalled, observer.States);
            Assert.Equal(SourceState.Ended, observer.States.Last());
        }
        finally
        {
            http.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task Reads_live_mjpeg_over_http()
    {
        // The MJPEG server is the worker's own preview endpoint, fed with generated frames at 10 fps.
        var state = new PipelineState { ModelReady = true };
        using var logs = new CapturingLoggerProvider();
        var options = new HttpOptions { Port = TestPaths.FreePort() };
        await using HttpEndpoint endpoint = await HttpEndpoint.StartAsync(options, state, logs);
        IFrameSink preview = endpoint.PreviewSinks([new StreamOptions { Id = "camera" }])["camera"];
        using var stopFeeding = new CancellationTokenSource();
        Task feed = Task.Run(async () =>
        {
            for (int i = 0; !stopFeeding.IsCancellationRequested; i++)
            {
                using Frame frame = FfmpegForwardSinkTests.MovingSquare(i);
                preview.Write(frame);
                await Task.Delay(100);
            }
        });

        try
        {
            var observer = new RecordingObserver();
            await using var source = new FfmpegFrameSource("mjpeg", $"http://127.0.0.1:{options.Port}/preview/camera.mjpg", isLive: true, s_reconnect, logs.CreateLogger("t"), observer);
            await source.OpenAsync(CancellationToken.None);
            Assert.Equal((320, 240), (source.Info.Width, source.Info.Height));
            List<Frame> frames = await FfmpegFrameSourceTests.ReadFramesAsync(source, 8, TimeSpan.FromSeconds(20));
            Assert.Equal(8, frames.Count);
            Assert.All(frames, f => Assert.Equal((320, 240), (f.Width, f.Height)));

            // The white square moves between frames: they are real, distinct pictures.
            using var difference = new OpenCvSharp.Mat();
            OpenCvSharp.Cv2.Absdiff(frames[0].Image, frames[^1].Image, difference);
            Assert.True(OpenCvSharp.Cv2.Mean(difference).Val0 > 0.5);
            frames.ForEach(f => f.Dispose());
        }
        finally
        {
            stopFeeding.Cancel();
            await feed;
        }
    }

    private static void Run(string file, params string[] args)
    {
        using Process process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, UseShellExecute = false })!;
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, errors);
    }

    private static async Task WaitForPortAsync(int port)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new System.Net.Sockets.TcpClient();
                await client.ConnectAsync(System.Net.IPAddress.Loopback, port);
                return;
            }
            catch (System.Net.Sockets.SocketException) when (watch.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(100);
            }
        }
    }
}
