using System.Diagnostics;
using System.Threading.Channels;
using Prometheus;
using StreamDeblur.Video;
using Xunit;

namespace StreamDeblur.Tests.Live;

/// <summary>The ffmpeg-based live source against a real RTSP server on loopback.</summary>
[Collection("Live")]
public sealed class FfmpegFrameSourceTests
{
    private static ReconnectOptions FastReconnect => new()
    {
        InitialDelaySeconds = 0.2,
        MaxDelaySeconds = 1,
        StallTimeoutSeconds = 2,
        OpenTimeoutSeconds = 6,
    };

    private static string NewId(string name) => $"{name}-{Guid.NewGuid():N}"[..24];

    [Fact]
    public async Task Reads_frames_from_rtsp_with_size_and_rate_from_ffprobe()
    {
        using var server = new RtspTestServer(width: 320, height: 240, fps: 15);
        var observer = new RecordingObserver();
        using var logs = new CapturingLoggerProvider();
        string id = NewId("read");
        await using var source = new FfmpegFrameSource(id, server.Url, isLive: true, FastReconnect, logs.CreateLogger("t"), observer);
        await source.OpenAsync(CancellationToken.None);

        Assert.Equal(320, source.Info.Width);
        Assert.Equal(240, source.Info.Height);
        Assert.InRange(source.Info.FramesPerSecond, 14, 16);
        Assert.True(source.Info.IsLive);

        var frames = await ReadFramesAsync(source, count: 20, TimeSpan.FromSeconds(20));
        Assert.Equal(20, frames.Count);
        Assert.All(frames, f => Assert.Equal((320, 240), (f.Width, f.Height)));
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (long)i), frames.Select(f => f.Sequence));
        Assert.True(frames.Zip(frames.Skip(1)).All(p => p.Second.Timestamp > p.First.Timestamp), "timestamps must increase");

        // The pattern is a moving ball: the frames are real pictures, not blank buffers.
        Assert.True(OpenCvSharp.Cv2.Mean(frames[^1].Image).Val0 > 1);
        Assert.Contains(SourceState.Up, observer.States);
        frames.ForEach(f => f.Dispose());
    }

    [Fact]
    public async Task Reads_a_camera_that_sends_B_frames_at_its_full_rate()
    {
        // Some cameras reorder frames (H.264 B-frames); the live input flags (nobuffer, low_delay) must not lose them.
        using var server = new RtspTestServer(fps: 15, bFrames: 2);
        using var logs = new CapturingLoggerProvider();
        await using var source = new FfmpegFrameSource(NewId("bframes"), server.Url, isLive: true, FastReconnect, logs.CreateLogger("t"), new RecordingObserver());
        await source.OpenAsync(CancellationToken.None);

        var frames = await ReadFramesAsync(source, count: 60, TimeSpan.FromSeconds(20));
        Assert.Equal(60, frames.Count);
        Assert.Equal(Enumerable.Range(0, 60).Select(i => (long)i), frames.Select(f => f.Sequence));
        double seconds = (frames[^1].Timestamp - frames[0].Timestamp).TotalSeconds;
        Assert.True(59 / seconds > 15 * 0.85, $"{59 / seconds:F1} fps delivered from a 15 fps camera");
        frames.ForEach(f => f.Dispose());
    }

    [Fact]
    public async Task Reconnects_after_the_server_dies_and_comes_back_and_keeps_counting()
    {
        using var server = new RtspTestServer();
        var observer = new RecordingObserver();
        using var logs = new CapturingLoggerProvider();
        string id = NewId("reconnect");
        await using var source = new FfmpegFrameSource(id, server.Url, isLive: true, FastReconnect, logs.CreateLogger("t"), observer);
        await source.OpenAsync(CancellationToken.None);

        var channel = Channel.CreateUnbounded<Frame>();
        using var stop = new CancellationTokenSource();
        Task run = source.RunAsync(channel.Writer, stop.Token);

        var sequences = new List<long>();
        await CollectAsync(channel.Reader, sequences, 10, TimeSpan.FromSeconds(20));
        double reconnectsBefore = PipelineMetrics.Reconnects.WithLabels(id).Value;

        server.Kill();
        await WaitUntilAsync(() => observer.States.Contains(SourceState.Reconnecting), TimeSpan.FromSeconds(15));
        await Task.Delay(1500); // stay down long enough for a failed attempt or two
        server.Start();

        int upsBefore = observer.States.Count(s => s == SourceState.Up);
        await CollectAsync(channel.Reader, sequences, 20, TimeSpan.FromSeconds(30));
        stop.Cancel();
        await run;

        Assert.True(PipelineMetrics.Reconnects.WithLabels(id).Value > reconnectsBefore, "the reconnect counter must grow");
        Assert.True(observer.States.Count(s => s == SourceState.Up) >= 2, string.Join(",", observer.States));
        Assert.True(PipelineMetrics.StreamTransitions is not null);

        // Sequence numbers continue across the reconnect: strictly increasing, never restarting at 0.
        Assert.True(sequences.Zip(sequences.Skip(1)).All(p => p.Second > p.First), string.Join(",", sequences));
        Assert.Equal(SourceState.Ended, observer.States.Last());
        Assert.Contains(logs.Lines, l => l.Contains("source reconnecting", StringComparison.Ordinal));
        Assert.True(upsBefore >= 1);
    }

    [Fact]
    public async Task A_silent_source_is_detected_as_stalled_and_restarted()
    {
        using var server = new RtspTestServer();
        var observer = new RecordingObserver();
        using var logs = new CapturingLoggerProvider();
        string id = NewId("stall");
        await using var source = new FfmpegFrameSource(id, server.Url, isLive: true, FastReconnect, logs.CreateLogger("t"), observer);
        await source.OpenAsync(CancellationToken.None);
        var channel = Channel.CreateUnbounded<Frame>();
        using var stop = new CancellationTokenSource();
        Task run = source.RunAsync(channel.Writer, stop.Token);
        await CollectAsync(channel.Reader, [], 5, TimeSpan.FromSeconds(20));

        // SIGSTOP freezes the server with its sockets open: no error, no end of stream, just silence.
        var pid = ServerPid(server);
        Process.Start("kill", ["-STOP", pid.ToString()])!.WaitForExit();
        try
        {
            await WaitUntilAsync(() => observer.States.Contains(SourceState.Stalled), TimeSpan.FromSeconds(10));
        }
        finally
        {
            Process.Start("kill", ["-CONT", pid.ToString()])!.WaitForExit();
        }

        await CollectAsync(channel.Reader, [], 5, TimeSpan.FromSeconds(30));
        stop.Cancel();
        await run;
        Assert.Contains(observer.Events, e => e.State == SourceState.Stalled && e.Detail!.Contains("no frame for", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Credentials_never_reach_logs_state_details_or_metrics()
    {
        const string password = "s3cr3tPa55";
        using var server = new RtspTestServer(user: "alice", password: password);
        var observer = new RecordingObserver();
        using var logs = new CapturingLoggerProvider();
        string good = NewId("cred-ok");
        string bad = NewId("cred-bad");

        await using (var source = new FfmpegFrameSource(good, server.UrlWith("alice", password), true, FastReconnect, logs.CreateLogger("t"), observer))
        {
            await source.OpenAsync(CancellationToken.None);
            (await ReadFramesAsync(source, 3, TimeSpan.FromSeconds(20))).ForEach(f => f.Dispose());
        }

        // A wrong password: the source keeps retrying (401), and each retry is logged with the server's answer.
        await using (var source = new FfmpegFrameSource(bad, server.UrlWith("alice", password + "x"), true, FastReconnect, logs.CreateLogger("t"), observer))
        {
            using var giveUp = new CancellationTokenSource(TimeSpan.FromSeconds(4));
            var error = await Assert.ThrowsAsync<SourceException>(() => source.OpenAsync(giveUp.Token));
            Assert.DoesNotContain(password, error.Message);
            Assert.Contains("401", error.Message);
        }

        using var metrics = new MemoryStream();
        await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(metrics);
        string exported = System.Text.Encoding.UTF8.GetString(metrics.ToArray());

        Assert.Contains("rtsp://***@127.0.0.1", logs.AllText);
        Assert.DoesNotContain(password, logs.AllText);
        Assert.DoesNotContain("alice", logs.AllText);
        Assert.All(observer.Events, e => Assert.DoesNotContain(password, e.Detail ?? ""));
        Assert.DoesNotContain(password, exported);
        Assert.Contains(observer.Events, e => e.Stream == bad && e.State == SourceState.Reconnecting);
        Assert.True(PipelineMetrics.Reconnects.WithLabels(bad).Value >= 1);
    }

    [Theory]
    [InlineData("rtsp://bob:hunter2@/no-host")]
    [InlineData("rtsp://bob:hunter2@127.0.0.1:99999/bad-port")]
    [InlineData("http://bob:hunter2@exa mple/space")]
    public async Task A_malformed_url_fails_at_once_with_the_url_redacted(string url)
    {
        var observer = new RecordingObserver();
        using var logs = new CapturingLoggerProvider();
        await using var source = new FfmpegFrameSource("bad-url", url, true, FastReconnect, logs.CreateLogger("t"), observer);
        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<SourceException>(() => source.OpenAsync(CancellationToken.None));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"took {watch.Elapsed}");
        Assert.Contains("malformed", error.Message);
        Assert.Contains("***@", error.Message);
        Assert.DoesNotContain("hunter2", error.Message + logs.AllText);
        Assert.Equal(SourceState.Failed, observer.States.Last());
    }

    [Fact]
    public async Task An_unreachable_url_keeps_reconnecting_with_growing_delays_until_stopped()
    {
        var observer = new RecordingObserver();
        using var logs = new CapturingLoggerProvider();
        string id = NewId("unreachable");
        int port = TestPaths.FreePort(); // nothing listens there
        var options = new ReconnectOptions { InitialDelaySeconds = 0.1, MaxDelaySeconds = 0.8, OpenTimeoutSeconds = 2, StallTimeoutSeconds = 2 };
        await using var source = new FfmpegFrameSource(id, $"rtsp://127.0.0.1:{port}/none", true, options, logs.CreateLogger("t"), observer);
        using var giveUp = new CancellationTokenSource(TimeSpan.FromSeconds(4));
        var error = await Assert.ThrowsAsync<SourceException>(() => source.OpenAsync(giveUp.Token));

        Assert.Contains("ever answered", error.Message);
        int retries = observer.States.Count(s => s == SourceState.Reconnecting);
        Assert.True(retries >= 3, $"only {retries} retries in 4 s");
        Assert.Equal(retries, (int)PipelineMetrics.Reconnects.WithLabels(id).Value);
        Assert.Equal(SourceState.Failed, observer.States.Last());
    }

    [Fact]
    public void Backoff_grows_exponentially_between_the_initial_and_maximum_delay_with_jitter()
    {
        var random = new Random(7);
        double[][] delays = Enumerable.Range(0, 8)
            .Select(attempt => Enumerable.Range(0, 400).Select(_ => FfmpegFrameSource.BackoffDelay(attempt, 0.5, 30, random).TotalSeconds).ToArray())
            .ToArray();

        for (int attempt = 0; attempt < delays.Length; attempt++)
        {
            double ceiling = Math.Min(30, 0.5 * Math.Pow(2, attempt));
            Assert.All(delays[attempt], d => Assert.InRange(d, 0.5, ceiling));
        }

        // Jitter: later attempts spread over their range instead of all waiting the same time.
        Assert.True(delays[5].Max() - delays[5].Min() > 5, "delays must be jittered");
        Assert.True(delays[6].Average() > delays[2].Average() * 3, "delays must grow");
        Assert.All(Enumerable.Range(0, 400).Select(_ => FfmpegFrameSource.BackoffDelay(40, 0.5, 30, random).TotalSeconds), d => Assert.InRange(d, 0.5, 30));
    }

    internal static async Task<List<Frame>> ReadFramesAsync(IFrameSource source, int count, TimeSpan timeout)
    {
        var channel = Channel.CreateUnbounded<Frame>();
        using var stop = new CancellationTokenSource();
        Task run = source.RunAsync(channel.Writer, stop.Token);
        var frames = new List<Frame>();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            while (frames.Count < count)
            {
                frames.Add(await channel.Reader.ReadAsync(deadline.Token));
            }
        }
        finally
        {
            stop.Cancel();
            await run;
            PipelineChannels.DisposeRemaining(channel.Reader);
        }

        return frames;
    }

    private static async Task CollectAsync(ChannelReader<Frame> reader, List<long> sequences, int count, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        for (int i = 0; i < count; i++)
        {
            using Frame frame = await reader.ReadAsync(deadline.Token);
            sequences.Add(frame.Sequence);
        }
    }

    internal static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"condition not met within {timeout.TotalSeconds} s");
            }

            await Task.Delay(50);
        }
    }

    private static int ServerPid(RtspTestServer server) => server.ProcessId;
}
