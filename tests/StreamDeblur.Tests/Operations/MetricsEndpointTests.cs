using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using StreamDeblur.App;
using StreamDeblur.Inference;
using Xunit;

namespace StreamDeblur.Tests.Operations;

/// <summary>
/// The real HTTP endpoint (/metrics, /healthz, /readyz) scraped during and after a real run on a clip cut from
/// the sample (real H.264, real model, real encoder); every scrape is validated by the real promtool.
/// </summary>
public sealed class MetricsEndpointTests
{
    [Fact]
    public async Task MetricsPassPromtoolAndAgreeWithWhatTheRunDid()
    {
        string stream = "metrics-" + Guid.NewGuid().ToString("N")[..8];
        string dir = TestPaths.TempDir("ops-metrics");
        string clip = OpsClips.ShortSample;
        string output = Path.Combine(dir, "out.mkv");
        string reportPath = Path.Combine(dir, "frames.jsonl");
        StreamDeblurOptions options = ConfigLoader.Load(Path.Combine(TestPaths.RepoRoot, "config", "streamdeblur.json"));
        options.Streams = [new StreamOptions { Id = stream, Input = clip, Output = output }];
        options.Model.Metadata = TestPaths.ModelMetadata;
        options.Http.Port = TestPaths.FreePort();
        ConfigLoader.ThrowIfInvalid(options);

        var state = new PipelineState();
        PipelineMetrics.InitialiseStream(stream);
        await using HttpEndpoint http = await HttpEndpoint.StartAsync(options.Http, state, NullLoggerFactory.Instance);
        using var client = new HttpClient { BaseAddress = http.Address, Timeout = TimeSpan.FromSeconds(10) };

        // Before the model is warm: alive, but not ready.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/readyz")).StatusCode);

        using DeblurModel model = DeblurModel.Load(options.Model, NullLogger.Instance);
        model.WarmUp();
        state.Provider = model.Provider;
        state.ModelReady = true;

        // Scrape while the pipeline runs, as Prometheus would.
        var duringRun = new List<Scrape>();
        var readyDuringRun = new List<JsonElement>();
        using var stopScraping = new CancellationTokenSource();
        Task scraper = Task.Run(async () =>
        {
            while (!stopScraping.IsCancellationRequested)
            {
                duringRun.Add(new Scrape(await client.GetStringAsync("/metrics")));
                using HttpResponseMessage ready = await client.GetAsync("/readyz");
                readyDuringRun.Add(JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement.Clone());
                await Task.Delay(50);
            }
        });

        using (var report = new FrameReport(reportPath))
        {
            await using var pipeline = new FramePipeline(options, model, report, NullLoggerFactory.Instance, state);
            IReadOnlyList<StreamResult> results = await pipeline.RunAsync(CancellationToken.None, CancellationToken.None);
            Assert.Null(Assert.Single(results).Error);
        }

        stopScraping.Cancel();
        await scraper;
        var after = new Scrape(await client.GetStringAsync("/metrics"));

        // promtool accepts the exposition format and its naming lint, during and after the run.
        Assert.NotEmpty(duringRun);
        foreach (Scrape scrape in new[] { duringRun[0], duringRun[duringRun.Count / 2], after })
        {
            (int code, string lint) = Ops.RunTool(Ops.Promtool, scrape.Text, "check", "metrics");
            Assert.True(code == 0, "promtool check metrics: " + lint);
        }

        // Counters never go backwards between scrapes.
        double[] readSeries = [.. duringRun.Select(s => s.Sum("streamdeblur_frames_read_total", ("stream", stream))), after.Sum("streamdeblur_frames_read_total", ("stream", stream))];
        Assert.True(readSeries.Zip(readSeries.Skip(1)).All(p => p.Second >= p.First), string.Join(",", readSeries));

        // The counters agree with what the run did: the clip's frames, ffprobe's count of the output, the report.
        int clipFrames = FfProbe.Probe(clip).Frames;
        int outputFrames = FfProbe.Probe(output).Frames;
        string[] lines = File.ReadAllLines(reportPath);
        var s = ("stream", stream);
        Assert.Equal(clipFrames, after.Value("streamdeblur_frames_read_total", s));
        Assert.Equal(outputFrames, after.Value("streamdeblur_frames_written_total", s));
        Assert.Equal(lines.Length, after.Value("streamdeblur_frames_written_total", s));
        double passed = after.Value("streamdeblur_frames_passed_total", s);
        double deblurred = after.Value("streamdeblur_frames_deblurred_total", s);
        double skipped = after.Sum("streamdeblur_frames_deblur_skipped_total", s);
        Assert.Equal(outputFrames, passed + deblurred + skipped);
        Assert.Equal(lines.Count(l => l.Contains("\"route\":\"deblurred\"", StringComparison.Ordinal)), deblurred);
        Assert.True(deblurred > 0, "the clip has blurred frames, yet none was deblurred");
        Assert.Equal(0, after.Sum("streamdeblur_frames_dropped_total", s));
        Assert.True(after.Has("streamdeblur_frames_dropped_total", s, ("reason", "queue_full")), "drop reasons are published at zero");

        // Histograms: one blur score per frame read, one latency per frame written, batches, stage latencies in seconds.
        Assert.Equal(clipFrames, after.Value("streamdeblur_blur_sharpness_count", s));
        Assert.Equal(outputFrames, after.Value("streamdeblur_frame_latency_seconds_count", s));
        Assert.Equal(outputFrames, after.Value("streamdeblur_frame_latency_seconds_bucket", s, ("le", "+Inf")));
        Assert.True(after.Sum("streamdeblur_batch_size_frames_sum") >= deblurred);
        foreach (string stage in new[] { "estimate", "deblur", "encode" })
        {
            Assert.True(after.Value("streamdeblur_stage_duration_seconds_count", ("stage", stage)) > 0, $"no {stage} latency");
        }

        // Queue depths per channel, stream state, provider.
        foreach (string queue in new[] { "decoded", "scored", "ready", "ordered" })
        {
            Assert.True(after.Has("streamdeblur_queue_depth_frames", ("queue", queue), s), $"no depth for queue {queue}");
        }

        Assert.Equal(0, after.Value("streamdeblur_stream_up", s));
        Assert.Equal(1, after.Value("streamdeblur_stream_transitions_total", s, ("state", "up")));
        Assert.Equal(1, after.Value("streamdeblur_stream_transitions_total", s, ("state", "ended")));
        Assert.Equal(0, after.Value("streamdeblur_reconnects_total", s));
        Assert.Equal(1, after.Value("streamdeblur_inference_info", ("provider", model.Provider), ("model", model.Metadata.Name)));

        // Readiness: the stream was reported up while it ran, and ended after.
        Assert.Contains(readyDuringRun, r => r.GetProperty("streams").TryGetProperty(stream, out JsonElement e) && e.GetProperty("state").GetString() == "up");
        using HttpResponseMessage finalReady = await client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, finalReady.StatusCode);
        JsonElement body = JsonDocument.Parse(await finalReady.Content.ReadAsStringAsync()).RootElement;
        Assert.True(body.GetProperty("model_ready").GetBoolean());
        Assert.Equal(model.Provider, body.GetProperty("provider").GetString());
        Assert.Equal("ended", body.GetProperty("streams").GetProperty(stream).GetProperty("state").GetString());
    }
}
