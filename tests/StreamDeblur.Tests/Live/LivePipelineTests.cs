using System.Diagnostics;
using System.Text;
using System.Text.Json;
using OpenCvSharp;
using StreamDeblur.App;
using StreamDeblur.Inference;
using StreamDeblur.Tests.Operations;
using StreamDeblur.Video;
using Xunit;

namespace StreamDeblur.Tests.Live;

/// <summary>The whole pipeline on live RTSP input from a real server on loopback, with the real model.</summary>
[Collection("Live")]
public sealed class LivePipelineTests
{
    private static ReconnectOptions FastReconnect => new()
    {
        InitialDelaySeconds = 0.2,
        MaxDelaySeconds = 1,
        StallTimeoutSeconds = 2,
        OpenTimeoutSeconds = 6,
    };

    private static string NewId(string name) => $"{name}-{Guid.NewGuid():N}"[..20];

    private static StreamDeblurOptions Options(params StreamOptions[] streams)
    {
        var options = new StreamDeblurOptions
        {
            Streams = [.. streams],
            Model = new ModelOptions { Metadata = TestPaths.ModelMetadata, WarmUp = false, IntraOpThreads = 1 },
        };
        Assert.Empty(options.Validate());
        return options;
    }

    private static double Written(string id) => PipelineMetrics.FramesWritten.WithLabels(id).Value;

    private static double Read(string id) => PipelineMetrics.FramesRead.WithLabels(id).Value;

    private static double Transitions(string id, string state) => PipelineMetrics.StreamTransitions.WithLabels(id, state).Value;

    [Fact]
    public async Task Survives_an_rtsp_server_outage_and_the_output_stays_playable()
    {
        using var server = new RtspTestServer();
        string id = NewId("outage");
        string output = Path.Combine(TestPaths.TempDir("outage"), "out.mkv");
        StreamDeblurOptions options = Options(new StreamOptions { Id = id, Input = server.Url, Output = output, Reconnect = FastReconnect });
        using var loggers = new CapturingLoggerProvider();
        using DeblurModel model = DeblurModel.Load(options.Model, loggers.CreateLogger("model"));
        var state = new PipelineState();
        await using var pipeline = new FramePipeline(options, model, null, loggers, state);
        using var stop = new CancellationTokenSource();
        using var abort = new CancellationTokenSource();
        Task<IReadOnlyList<StreamResult>> run = pipeline.RunAsync(stop.Token, abort.Token);

        await FfmpegFrameSourceTests.WaitUntilAsync(() => Written(id) >= 15, TimeSpan.FromSeconds(40));
        double reconnectsBefore = PipelineMetrics.Reconnects.WithLabels(id).Value;
        Assert.Equal(1, PipelineMetrics.StreamUp.WithLabels(id).Value);

        server.Kill();
        await FfmpegFrameSourceTests.WaitUntilAsync(() => state.Streams[id].Health is StreamHealth.Reconnecting, TimeSpan.FromSeconds(15));
        Assert.Equal(0, PipelineMetrics.StreamUp.WithLabels(id).Value);
        await Task.Delay(1000);
        double writtenInOutage = Written(id);
        server.Start();

        await FfmpegFrameSourceTests.WaitUntilAsync(() => Written(id) >= writtenInOutage + 15, TimeSpan.FromSeconds(40));
        Assert.Equal(StreamHealth.Up, state.Streams[id].Health);
        stop.Cancel();
        abort.CancelAfter(TimeSpan.FromSeconds(15));
        StreamResult result = Assert.Single(await run);

        Assert.Null(result.Error);
        Assert.True(PipelineMetrics.Reconnects.WithLabels(id).Value > reconnectsBefore);
        Assert.True(Transitions(id, "reconnecting") >= 1);
        Assert.True(Transitions(id, "up") >= 2, "up, then up again after the outage");
        Assert.Contains(loggers.Lines, l => l.Contains("source reconnecting", StringComparison.Ordinal));
        Assert.Equal(StreamHealth.Ended, state.Streams[id].Health);

        ProbeResult probe = FfProbe.Probe(output);
        Assert.Equal((320, 240), (probe.Width, probe.Height));
        Assert.Equal(result.FramesWritten, probe.Frames);
    }

    [Fact]
    public async Task A_dead_stream_beside_a_good_one_never_stops_it_and_the_preview_and_logs_work()
    {
        const string password = "Pa55-w0rd-Xyz";
        using var server = new RtspTestServer(user: "cam", password: password);
        string good = NewId("good");
        string bad = NewId("bad");
        string dir = TestPaths.TempDir("dead-beside-good");
        StreamDeblurOptions options = Options(
            new StreamOptions { Id = good, Input = server.UrlWith("cam", password), Output = Path.Combine(dir, "good.mkv"), Reconnect = FastReconnect },
            new StreamOptions
            {
                Id = bad,
                Input = $"rtsp://cam:{password}@127.0.0.1:{TestPaths.FreePort()}/nobody-listens",
                Output = Path.Combine(dir, "bad.mkv"),
                Reconnect = FastReconnect,
            });
        options.Http.Port = TestPaths.FreePort();
        using var loggers = new CapturingLoggerProvider();
        using DeblurModel model = DeblurModel.Load(options.Model, loggers.CreateLogger("model"));
        var state = new PipelineState { ModelReady = true };
        await using HttpEndpoint http = await HttpEndpoint.StartAsync(options.Http, state, loggers);
        await using var pipeline = new FramePipeline(options, model, null, loggers, state, http.PreviewSinks(options.Streams));
        using var stop = new CancellationTokenSource();
        using var abort = new CancellationTokenSource();
        Task<IReadOnlyList<StreamResult>> run = pipeline.RunAsync(stop.Token, abort.Token);

        await FfmpegFrameSourceTests.WaitUntilAsync(() => Written(good) >= 5, TimeSpan.FromSeconds(40));
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{options.Http.Port}") };
        using (var preview = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            byte[] jpeg = await ReadFirstMjpegPartAsync(client, $"/preview/{good}.mjpg", preview.Token);
            using Mat picture = Cv2.ImDecode(jpeg, ImreadModes.Color);
            Assert.Equal((320, 240), (picture.Width, picture.Height));
        }

        await FfmpegFrameSourceTests.WaitUntilAsync(() => Written(good) >= 45, TimeSpan.FromSeconds(40));
        Assert.Equal(StreamHealth.Reconnecting, state.Streams[bad].Health);
        Assert.True(state.IsReady, "a stream that is reconnecting does not make the worker unready");
        string metrics = await client.GetStringAsync("/metrics");
        string readyz = await client.GetStringAsync("/readyz");
        stop.Cancel();
        abort.CancelAfter(TimeSpan.FromSeconds(15));
        IReadOnlyList<StreamResult> results = await run;

        StreamResult goodResult = results.Single(r => r.StreamId == good);
        StreamResult badResult = results.Single(r => r.StreamId == bad);
        Assert.Null(goodResult.Error);
        Assert.True(goodResult.FramesWritten >= 45);
        Assert.Equal(goodResult.FramesWritten, FfProbe.Probe(Path.Combine(dir, "good.mkv")).Frames);
        Assert.NotNull(badResult.Error);
        Assert.Contains("ever answered", badResult.Error);
        Assert.Equal(0, badResult.FramesWritten);
        Assert.True(PipelineMetrics.Reconnects.WithLabels(bad).Value >= 2);
        Assert.Contains($"streamdeblur_reconnects_total{{stream=\"{bad}\"}}", metrics);

        // The credentials were in both URLs: they appear nowhere (logs, /metrics, /readyz, results).
        string everything = loggers.AllText + metrics + readyz + badResult.Error;
        Assert.Contains("rtsp://***@127.0.0.1", loggers.AllText);
        Assert.DoesNotContain(password, everything);
        Assert.DoesNotContain("cam:", everything);
    }

    [Fact]
    public async Task At_the_latency_limit_frames_are_dropped_or_passed_undeblurred_and_every_one_is_counted()
    {
        // A slow output (80 ms a frame at 15 fps) backs the stream up: the leaky decode queue drops the oldest
        // frames, and blurry frames older than half of max_latency_ms skip the network.
        using var server = new RtspTestServer(blurPeriod: 2);
        string id = NewId("latency");
        StreamDeblurOptions options = Options(new StreamOptions
        {
            Id = id, Input = server.Url, Output = Path.Combine(TestPaths.TempDir("latency"), "out.mkv"), MaxLatencyMs = 100, Reconnect = FastReconnect,
        });
        options.Pipeline.ChannelCapacity = 2;
        using var loggers = new CapturingLoggerProvider();
        using DeblurModel model = DeblurModel.Load(options.Model, loggers.CreateLogger("model"));
        var slowSink = new SlowSink(TimeSpan.FromMilliseconds(80));
        await using var pipeline = new FramePipeline(options, model, null, loggers, new PipelineState(), new Dictionary<string, IFrameSink> { [id] = slowSink });
        using var stop = new CancellationTokenSource();
        using var abort = new CancellationTokenSource();
        Task<IReadOnlyList<StreamResult>> run = pipeline.RunAsync(stop.Token, abort.Token);
        await FfmpegFrameSourceTests.WaitUntilAsync(() => Written(id) >= 60, TimeSpan.FromSeconds(60));
        stop.Cancel();
        abort.CancelAfter(TimeSpan.FromSeconds(15));
        StreamResult result = Assert.Single(await run);

        double dropped = PipelineMetrics.FramesDropped.WithLabels(id, "queue_full").Value;
        double skipped = PipelineMetrics.FramesSkipped.WithLabels(id, "overload").Value;
        Assert.Null(result.Error);
        Assert.True(dropped > 0, "the decode queue must have dropped frames");
        Assert.True(skipped > 0, "late blurry frames must have skipped the network");
        Assert.Equal(Read(id), result.FramesWritten + dropped);
        Assert.Equal(result.FramesWritten, slowSink.Sequences.Count);
        Assert.True(slowSink.Sequences.Zip(slowSink.Sequences.Skip(1)).All(p => p.Second > p.First), "output stays in order");
        Assert.Equal(dropped, slowSink.Sequences[^1] + 1 - slowSink.Sequences.Count);
    }

    [Fact]
    public async Task A_killed_worker_leaves_every_closed_segment_playable()
    {
        using var server = new RtspTestServer();
        string dir = TestPaths.TempDir("segments-kill");
        string output = Path.Combine(dir, "cam.mkv");
        string config = Path.Combine(dir, "config.json");
        File.WriteAllText(config, JsonSerializer.Serialize(new
        {
            streams = new[] { new { id = "seg", input = server.Url, output, segment_seconds = 1.0 } },
            model = new { metadata = TestPaths.ModelMetadata, warm_up = false, intra_op_threads = 1 },
        }));

        using (CliProcess worker = CliProcess.Start("run", "--config", config))
        {
            bool fourth = await worker.WaitUntilAsync(() => Task.FromResult(File.Exists(VideoFileSink.SegmentPath(output, 3))), TimeSpan.FromSeconds(60));
            Assert.True(fourth, $"no 4th segment after 60 s (exited: {worker.HasExited}): {worker.StdErr}");
            worker.Signal(CliProcess.SigKill); // no chance to finalise anything
            await worker.WaitForExitAsync(TimeSpan.FromSeconds(5));
        }

        string[] segments = Directory.GetFiles(dir, "cam_*.mkv").Order(StringComparer.Ordinal).ToArray();
        Assert.True(segments.Length >= 4);
        foreach (string closed in segments[..^1])
        {
            ProbeResult probe = FfProbe.Probe(closed);
            Assert.Equal((320, 240), (probe.Width, probe.Height));
            Assert.Equal(15, probe.Frames); // segment_seconds × 15 fps
        }
    }

    [Fact]
    public async Task The_cli_forwards_a_live_stream_to_an_rtmp_server_and_finishes_cleanly_on_sigterm()
    {
        using var server = new RtspTestServer();
        string dir = TestPaths.TempDir("cli-forward");
        string received = Path.Combine(dir, "received.flv");
        string output = Path.Combine(dir, "out.mkv");
        string forward = $"rtmp://127.0.0.1:{TestPaths.FreePort()}/live/cam";
        using Process receiver = Process.Start(new ProcessStartInfo("ffmpeg", ["-hide_banner", "-loglevel", "error", "-listen", "1", "-i", forward, "-c", "copy", "-y", received])
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        Task<string> receiverErrors = receiver.StandardError.ReadToEndAsync();
        string config = Path.Combine(dir, "config.json");
        File.WriteAllText(config, JsonSerializer.Serialize(new
        {
            model = new { metadata = TestPaths.ModelMetadata, warm_up = false, intra_op_threads = 1 },
        }));

        using CliProcess worker = CliProcess.Start("run", "--config", config, "--input", server.Url, "--output", output, "--forward", forward);
        bool up = await worker.WaitUntilAsync(() => Task.FromResult(worker.StdErr.Contains("source up", StringComparison.Ordinal)), TimeSpan.FromSeconds(40));
        Assert.True(up, $"the stream did not come up (exited: {worker.HasExited}): {worker.StdErr}");

        await Task.Delay(3000);
        worker.Signal(CliProcess.SigTerm);
        int exitCode = await worker.WaitForExitAsync(TimeSpan.FromSeconds(30)); // throws, with the output, if SIGTERM did not stop it
        Assert.True(exitCode == 0, $"exit code {exitCode}: {worker.StdErr}");
        Assert.True(receiver.WaitForExit(15000), "the RTMP receiver did not see the end of the stream");
        Assert.True(receiver.ExitCode == 0, await receiverErrors);

        ProbeResult sent = FfProbe.Probe(output);
        ProbeResult got = FfProbe.Probe(received);
        Assert.Equal("h264", got.Codec);
        Assert.Equal((320, 240), (got.Width, got.Height));
        Assert.True(sent.Frames >= 30, worker.StdOut);
        Assert.InRange(got.Frames, sent.Frames * 8 / 10, sent.Frames); // a few may be dropped, never invented
    }

    /// <summary>Reads a multipart/x-mixed-replace response until its first image/jpeg part, and returns the JPEG.</summary>
    internal static async Task<byte[]> ReadFirstMjpegPartAsync(HttpClient client, string path, CancellationToken cancellationToken)
    {
        using HttpResponseMessage response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        response.EnsureSuccessStatusCode();
        Assert.StartsWith("multipart/x-mixed-replace", response.Content.Headers.ContentType!.MediaType);
        await using Stream body = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new List<byte>();
        var chunk = new byte[16 * 1024];
        while (true)
        {
            int read = await body.ReadAsync(chunk, cancellationToken);
            Assert.True(read > 0, "the preview ended before a JPEG arrived");
            buffer.AddRange(chunk.AsSpan(0, read));
            string head = Encoding.ASCII.GetString(buffer.ToArray());
            int type = head.IndexOf("Content-Type: image/jpeg", StringComparison.Ordinal);
            int headerEnd = type < 0 ? -1 : head.IndexOf("\r\n\r\n", type, StringComparison.Ordinal);
            if (headerEnd < 0)
            {
                continue;
            }

            int lengthAt = head.IndexOf("Content-Length: ", type, StringComparison.Ordinal) + "Content-Length: ".Length;
            int length = int.Parse(head[lengthAt..head.IndexOf("\r\n", lengthAt, StringComparison.Ordinal)]);
            int start = headerEnd + 4;
            if (buffer.Count >= start + length)
            {
                byte[] jpeg = buffer.GetRange(start, length).ToArray();
                Assert.Equal((byte)0xFF, jpeg[0]);
                Assert.Equal((byte)0xD8, jpeg[1]);
                return jpeg;
            }
        }
    }

    private sealed class SlowSink(TimeSpan perFrame) : IFrameSink
    {
        public List<long> Sequences { get; } = [];

        public void Write(Frame frame)
        {
            Sequences.Add(frame.Sequence);
            Thread.Sleep(perFrame);
        }

        public void Complete()
        {
        }

        public void Dispose()
        {
        }
    }
}
