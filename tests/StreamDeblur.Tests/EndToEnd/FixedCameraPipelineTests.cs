using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using StreamDeblur.App;
using StreamDeblur.Inference;
using StreamDeblur.Tests.Operations;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>
/// Fixed-camera mode through the whole pipeline on the first 45 frames of the sample clip (real H.264, a
/// 15-frame burst of real blur, the shipped single-frame model), with the two-frame test model that averages the frame
/// with its reference (tests/data/models/two-frame-blend), so its effect on a frame is plain to see.
/// </summary>
public sealed class FixedCameraPipelineTests
{
    private static readonly string s_blend = TestPaths.TestData("models", "two-frame-blend.json");

    private const int Frames = 45;

    /// <summary>
    /// The sample's first 45 frames, decoded and stored losslessly (FFV1 in the sample's yuv420p), so they decode to
    /// the sample's own pictures (a stream copy cut in decode order would drop B-frames shown before the cut).
    /// </summary>
    private static string Clip => OpsClips.Make("sample-first-45.mkv", "-i", TestPaths.SampleClip, "-frames:v", $"{Frames}", "-c:v", "ffv1", "-pix_fmt", "yuv420p");

    /// <summary>The frames of the clip that were blurred when the sample was made (samples/vtest-blur.truth.json).</summary>
    private static int BlurredFrames => Enumerable.Range(0, Frames).Count(i => !SampleFrames.IsSharp(i));

    /// <summary>
    /// Off (globally, or for one stream) is exactly today's behaviour: the same pixels leave every stage as with no
    /// two-frame model at all, and the report has the fields, routes and scores that the code before fixed-camera
    /// mode wrote (tests/data/fixed-camera/sample-report-before.json). A stream with the mode on, beside them, gets
    /// references, so the switch is what keeps them out.
    /// </summary>
    [Fact]
    public async Task OffIsExactlyTodaysBehaviourAndOnChangesOnlyTheStreamsThatUseIt()
    {
        Run today = await RunAsync("today", fixedModel: false, configure: _ => { });
        Run globallyOff = await RunAsync("off", fixedModel: true, configure: o => o.FixedCamera.Enabled = false);
        Run mixed = await RunAsync("mixed", fixedModel: true, configure: o =>
        {
            o.Streams.Add(new StreamOptions { Id = "mixed-on", Input = Clip, Output = Path.Combine(TestPaths.TempDir("fixed-on"), "on.mkv") });
            o.Streams[0].FixedCamera = false;
        });

        // Today's report, as the code before the change wrote it: the same keys, in order, and the same verdicts.
        using JsonDocument golden = JsonDocument.Parse(File.ReadAllText(TestPaths.TestData("fixed-camera", "sample-report-before.json")));
        string[] keys = golden.RootElement.GetProperty("report_keys").EnumerateArray().Select(k => k.GetString()!).ToArray();
        JsonElement[] before = golden.RootElement.GetProperty("frames").EnumerateArray().Take(Frames).ToArray();
        foreach (Run run in new[] { today, globallyOff, mixed })
        {
            List<JsonElement> lines = run.Report(run.StreamIds[0][..^7]);
            Assert.Equal(Frames, lines.Count);
            for (int i = 0; i < lines.Count; i++)
            {
                Assert.Equal(keys, lines[i].EnumerateObject().Select(p => p.Name));
                Assert.Equal(before[i][0].GetInt64(), lines[i].GetProperty("seq").GetInt64());
                Assert.Equal(before[i][1].GetString(), lines[i].GetProperty("route").GetString());
                Assert.Equal(before[i][2].GetBoolean(), lines[i].GetProperty("blurry").GetBoolean());
                // Scores within 3 %: the golden file was written on another CPU, whose swscale and OpenCV SIMD
                // paths round a little differently (1 % apart was seen in CI); the verdicts above must match exactly.
                AssertClose(before[i][3].GetDouble(), lines[i].GetProperty("sharpness").GetDouble(), $"frame {i} sharpness");
                AssertClose(before[i][4].GetDouble(), lines[i].GetProperty("baseline").GetDouble(), $"frame {i} baseline");
            }
        }

        // The same pixels, frame by frame.
        Assert.Equal(BlurredFrames, today.Frames["today"].Count(f => f.Route == FrameRoute.Deblurred));
        Assert.Equal(today.Frames["today"], globallyOff.Frames["off"]);
        Assert.Equal(today.Frames["today"], mixed.Frames["mixed"]);

        // The stream with the mode on: the same frames pass through, and its deblurred frames carry the reference.
        List<Seen> on = mixed.Frames["mixed-on"];
        Assert.Equal(today.Frames["today"].Select(f => (f.Sequence, f.Route)), on.Select(f => (f.Sequence, f.Route)));
        var changed = on.Zip(today.Frames["today"]).Where(p => p.First.Hash != p.Second.Hash).Select(p => p.First.Sequence).ToList();
        List<JsonElement> onLines = mixed.Report("mixed-on");
        var used = onLines.Where(l => l.GetProperty("reference_used").GetBoolean()).Select(l => l.GetProperty("seq").GetInt64()).ToList();
        Assert.True(used.Count >= BlurredFrames - 2, $"only {used.Count} of {BlurredFrames} blurry frames used a reference");
        Assert.Equal(used, changed);
    }

    private static void AssertClose(double expected, double actual, string what) =>
        Assert.True(Math.Abs(actual - expected) <= 0.03 * Math.Abs(expected) + 0.01, $"{what}: {actual} is not within 3 % of {expected}");

    [Fact]
    public async Task TheReportAndTheMetricsSayWhatFixedCameraModeDid()
    {
        Run run = await RunAsync("metrics", fixedModel: true, configure: _ => { });
        string stream = run.StreamIds[0];
        List<JsonElement> lines = run.Report("metrics");
        JsonElement[] deblurred = lines.Where(l => l.GetProperty("route").GetString() == "deblurred").ToArray();
        Assert.Equal(BlurredFrames, deblurred.Length);
        foreach (JsonElement line in lines)
        {
            bool isDeblurred = line.GetProperty("route").GetString() == "deblurred";
            string? outcome = line.GetProperty("reference_outcome").GetString();
            Assert.Equal(isDeblurred, outcome is not null);
            Assert.Equal(outcome == "used", line.GetProperty("reference_used").GetBoolean());
            Assert.Equal(isDeblurred, line.GetProperty("sharpness_after").ValueKind == JsonValueKind.Number);
            if (outcome is "used" or "unaligned")
            {
                Assert.InRange(line.GetProperty("reference_age_ms").GetDouble(), 100, 3000);
                Assert.InRange(line.GetProperty("reference_age_frames").GetInt64(), 1, 30);
                Assert.InRange(line.GetProperty("alignment_quality").GetDouble(), -1, 1);
                Assert.True(line.GetProperty("align_ms").GetDouble() > 0);
            }

            // Verified fusion runs on every frame deblurred with its reference (a file stream never skips it).
            JsonElement verified = line.GetProperty("reference_verified_fraction");
            Assert.Equal(outcome == "used", verified.ValueKind == JsonValueKind.Number);
            if (outcome == "used")
            {
                Assert.InRange(verified.GetDouble(), 0, 1);
            }
        }

        // Each burst starts one frame after a sharp frame: its first frame's reference is 100 ms old.
        Assert.Equal(100, deblurred[0].GetProperty("reference_age_ms").GetDouble());
        Assert.Equal("used", deblurred[0].GetProperty("reference_outcome").GetString());

        // The counters agree with the report and add up to the deblurred frames.
        double Outcome(string o) => PipelineMetrics.FixedCameraReferences.WithLabels(stream, o).Value;
        Assert.Equal(deblurred.Length, PipelineMetrics.ReferenceOutcomes.Sum(Outcome));
        foreach (string outcome in PipelineMetrics.ReferenceOutcomes)
        {
            Assert.Equal(deblurred.Count(l => l.GetProperty("reference_outcome").GetString() == outcome), Outcome(outcome));
        }

        Assert.Equal(PipelineMetrics.FramesDeblurred.WithLabels(stream).Value, PipelineMetrics.ReferenceOutcomes.Sum(Outcome));
        double gains = PipelineMetrics.SharpnessGain.WithLabels(stream, "used").Count + PipelineMetrics.SharpnessGain.WithLabels(stream, "none").Count;
        Assert.Equal(deblurred.Length, gains);

        // And the exposition passes promtool, with the new series in it.
        using var text = new MemoryStream();
        await Prometheus.Metrics.DefaultRegistry.CollectAndExportAsTextAsync(text);
        var scrape = new Scrape(System.Text.Encoding.UTF8.GetString(text.ToArray()));
        (int code, string lint) = Ops.RunTool(Ops.Promtool, scrape.Text, "check", "metrics");
        Assert.True(code == 0, "promtool check metrics: " + lint);
        Assert.Equal(Outcome("used"), scrape.Value("streamdeblur_fixed_camera_references_total", ("stream", stream), ("outcome", "used")));
        Assert.True(scrape.Has("streamdeblur_fixed_camera_reference_drops_total", ("stream", stream), ("reason", "age")));
        Assert.True(scrape.Has("streamdeblur_deblur_sharpness_gain_ratio_bucket", ("stream", stream), ("reference", "used")));
        Assert.True(scrape.Has("streamdeblur_stage_duration_seconds_count", ("stage", "align")));
        Assert.Equal(Outcome("used"), scrape.Value("streamdeblur_fixed_camera_verified_ratio_count", ("stream", stream)));
        Assert.Equal(0, scrape.Value("streamdeblur_fixed_camera_verifications_skipped_total", ("stream", stream), ("reason", "behind")));
        Assert.True(deblurred.Where(l => l.GetProperty("reference_outcome").GetString() == "used").Average(l => l.GetProperty("reference_verified_fraction").GetDouble()) > 0.2,
            "verified fusion should prove a good share of the sample's static scene");
    }

    /// <summary>
    /// Verify only (<c>two_frame_network: false</c>): no two-frame model is loaded; every blurry frame goes through the
    /// single-frame model, and a frame whose reference verified gets the proven part blended in. So a frame that
    /// verified nothing is pixel for pixel the single-frame output with the mode off, and one that verified a share
    /// differs from it; the sharp frames pass through untouched either way.
    /// </summary>
    [Fact]
    public async Task VerifyOnlyDeblursSingleFrameAndBlendsInWhatVerified()
    {
        Run off = await RunAsync("single", fixedModel: true, configure: o => o.FixedCamera.Enabled = false);
        Run verifyOnly = await RunAsync("verify", fixedModel: true, configure: o => o.FixedCamera.TwoFrameNetwork = false);

        List<JsonElement> lines = verifyOnly.Report("verify");
        Assert.Equal(Frames, lines.Count);
        List<Seen> single = off.Frames["single"], verify = verifyOnly.Frames["verify"];
        Assert.Equal(single.Select(f => (f.Sequence, f.Route)), verify.Select(f => (f.Sequence, f.Route)));
        int verifiedFrames = 0;
        foreach (JsonElement line in lines)
        {
            int seq = (int)line.GetProperty("seq").GetInt64();
            JsonElement fraction = line.GetProperty("reference_verified_fraction");
            bool blended = line.GetProperty("reference_used").GetBoolean(); // verified fusion is the only use of it here
            if (blended)
            {
                Assert.True(fraction.ValueKind == JsonValueKind.Number && fraction.GetDouble() > 0, $"frame {seq} used its reference but verified nothing");
                verifiedFrames++;
                Assert.NotEqual(single[seq].Hash, verify[seq].Hash);
            }
            else
            {
                Assert.Equal(single[seq].Hash, verify[seq].Hash);
            }
        }

        Assert.True(verifiedFrames >= BlurredFrames / 2, $"only {verifiedFrames} of {BlurredFrames} blurry frames verified a share of their reference");
    }

    /// <summary>
    /// A live stream (the clip replayed at 10 fps as a live source) goes through the keeper too: every frame comes out
    /// or is counted as dropped by the source (a live source on a loaded machine drops its oldest frames: 1-10 of 45
    /// were seen at 20 fps on two busy cores), in order, the blurry ones deblurred with their reference or passed
    /// through when the shared queue is full (the live policy), and a frame that skipped the network reports no
    /// reference used.
    /// </summary>
    [Fact]
    public async Task ALiveStreamUsesItUnderTheLivePolicy()
    {
        Run run = await RunAsync("live", fixedModel: true, configure: o =>
        {
            o.Streams[0].Live = true;
            o.Streams[0].PaceFps = 10;
            o.Streams[0].MaxLatencyMs = 600_000; // no frame is late: only a full queue skips the network
        });
        List<JsonElement> lines = run.Report("live");
        double sourceDrops = PipelineMetrics.FramesDropped.WithLabels(run.StreamIds.Single(), "queue_full").Value;
        Assert.Equal(Frames, lines.Count + (int)sourceDrops);
        long[] sequence = lines.Select(l => l.GetProperty("seq").GetInt64()).ToArray();
        Assert.Equal(sequence.Order(), sequence);
        Assert.Equal(sequence.Distinct().Count(), sequence.Length);
        JsonElement[] blurry = lines.Where(l => l.GetProperty("blurry").GetBoolean()).ToArray();
        Assert.Equal(lines.Count(l => !SampleFrames.IsSharp((int)l.GetProperty("seq").GetInt64())), blurry.Length);
        Assert.InRange(blurry.Length, BlurredFrames - (int)sourceDrops, BlurredFrames);
        Assert.All(blurry, l => Assert.Contains(l.GetProperty("route").GetString(), new[] { "deblurred", "skipped_overload" }));
        Assert.All(blurry.Where(l => l.GetProperty("route").GetString() == "skipped_overload"), l => Assert.False(l.GetProperty("reference_used").GetBoolean()));
        Assert.All(blurry.Where(l => l.GetProperty("route").GetString() == "deblurred"), l => Assert.NotEqual(JsonValueKind.Null, l.GetProperty("reference_outcome").ValueKind));
        Assert.Contains(blurry, l => l.GetProperty("reference_used").GetBoolean());
        // A live stream's first frames with a reference are not verified: what verifying costs is still being measured.
        JsonElement firstUsed = lines.First(l => l.GetProperty("reference_outcome").ValueKind == JsonValueKind.String
            && l.GetProperty("reference_outcome").GetString() == "used");
        Assert.Equal(JsonValueKind.Null, firstUsed.GetProperty("reference_verified_fraction").ValueKind);
        Assert.True(PipelineMetrics.FixedCameraVerificationsSkipped.WithLabels(run.StreamIds.Single(), "measuring").Value >= 1);
    }

    /// <summary>
    /// With the default latency budget (1 s) and a source paced at 20 fps, a live stream's keeper verifies only what it
    /// has time for: frames come out in order, and every frame given a reference is either verified or counted as
    /// skipped (behind, its cost still being measured, or over budget; on a loaded machine that may be all of them);
    /// with verify_live off, none is verified. The keeper counts every frame it gave a reference, also those that the shared queue then passed
    /// through without the network, so the counters are at least what the report's deblurred frames show.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ALiveStreamVerifiesOnlyWhatItsLatencyBudgetAllows(bool verifyLive)
    {
        Run run = await RunAsync("budget", fixedModel: true, configure: o =>
        {
            o.Streams[0].Live = true;
            o.Streams[0].PaceFps = 20;
            o.FixedCamera.VerifyLive = verifyLive;
        });
        List<JsonElement> lines = run.Report("budget");
        string stream = run.StreamIds.Single();
        long[] sequence = lines.Select(l => l.GetProperty("seq").GetInt64()).ToArray();
        Assert.Equal(sequence.Order(), sequence); // in order; a live source under load may drop (its own counter)
        JsonElement[] used = lines.Where(l => l.GetProperty("route").GetString() == "deblurred" && l.GetProperty("reference_outcome").GetString() == "used").ToArray();
        int verified = used.Count(l => l.GetProperty("reference_verified_fraction").ValueKind == JsonValueKind.Number);
        double Skipped(string reason) => PipelineMetrics.FixedCameraVerificationsSkipped.WithLabels(stream, reason).Value;
        double verifications = PipelineMetrics.FixedCameraVerified.WithLabels(stream).Count;
        Assert.True(verifications >= verified, $"{verified} frames report a verified share, the keeper counted {verifications}");
        if (verifyLive)
        {
            Assert.True(Skipped("behind") + Skipped("measuring") + Skipped("over_budget") + Skipped("no_kernel") >= used.Length - verified,
                $"{used.Length - verified} deblurred frames skipped verification, {Skipped("behind")} behind, {Skipped("measuring")} measuring, {Skipped("over_budget")} over budget counted");
            Assert.Equal(0, Skipped("live"));
        }
        else
        {
            Assert.Equal(0, verified);
            Assert.Equal(0, verifications);
            Assert.True(Skipped("live") >= used.Length, $"{used.Length} deblurred frames with a reference, {Skipped("live")} counted as live skips");
            Assert.Equal(0, Skipped("behind") + Skipped("measuring") + Skipped("over_budget"));
        }
    }

    /// <summary>A frame as it left the pipeline for the encoder: its route and a hash of its pixels.</summary>
    private sealed record Seen(long Sequence, FrameRoute Route, string Hash);

    private sealed record Run(IReadOnlyList<string> StreamIds, Dictionary<string, List<Seen>> Frames, string ReportPath)
    {
        /// <summary>The report lines of the stream the test called <paramref name="name"/> (its id without the run's suffix).</summary>
        public List<JsonElement> Report(string name) => File.ReadAllLines(ReportPath)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(l => l.GetProperty("stream").GetString() == StreamIds.Single(id => id[..^7] == name))
            .ToList();
    }

    private static async Task<Run> RunAsync(string name, bool fixedModel, Action<StreamDeblurOptions> configure)
    {
        string dir = TestPaths.TempDir("fixed-" + name);
        string reportPath = Path.Combine(dir, "frames.jsonl");
        StreamDeblurOptions options = ConfigLoader.Load(Path.Combine(TestPaths.RepoRoot, "config", "streamdeblur.json"));
        options.Streams = [new StreamOptions { Id = name, Input = Clip, Output = Path.Combine(dir, "out.mkv") }];
        options.Model.Metadata = TestPaths.ModelMetadata;
        options.FixedCamera.Metadata = s_blend;
        configure(options);

        // Unique ids, so that this run's counters are its own.
        string suffix = Guid.NewGuid().ToString("N")[..6];
        var ids = new List<string>();
        foreach (StreamOptions stream in options.Streams)
        {
            stream.Id = $"{stream.Id}-{suffix}";
            ids.Add(stream.Id);
            PipelineMetrics.InitialiseStream(stream.Id);
        }

        ConfigLoader.ThrowIfInvalid(options);
        var sinks = options.Streams.ToDictionary(s => s.Id, _ => new HashingSink());
        using (DeblurModel model = DeblurModel.Load(options.Model, NullLogger.Instance))
        using (DeblurModel? twoFrame = fixedModel ? FixedCameraModel.Load(options, NullLogger.Instance) : null)
        using (var report = new FrameReport(reportPath))
        {
            Assert.Equal(fixedModel && options.FixedCamera.Enabled && options.FixedCamera.TwoFrameNetwork, twoFrame is not null);
            await using var pipeline = new FramePipeline(options, model, report, NullLoggerFactory.Instance, new PipelineState(),
                sinks.ToDictionary(s => s.Key, s => (IFrameSink)s.Value), fixedCameraModel: twoFrame);
            IReadOnlyList<StreamResult> results = await pipeline.RunAsync(CancellationToken.None, CancellationToken.None);
            Assert.All(results, r => Assert.Null(r.Error));
        }

        return new Run(ids, sinks.ToDictionary(s => s.Key[..^7], s => s.Value.Seen), reportPath);
    }

    /// <summary>Records every frame the encoder stage writes: what reaches the file, before the lossy encoder.</summary>
    private sealed class HashingSink : IFrameSink
    {
        private readonly Mat _scratch = new();

        public List<Seen> Seen { get; } = [];

        public void Write(Frame frame)
        {
            Mat bgr = frame.PixelsAs(PixelLayout.Bgr24, frame.Size, _scratch);
            byte[] pixels = new byte[bgr.Total() * bgr.ElemSize()];
            System.Runtime.InteropServices.Marshal.Copy(bgr.Data, pixels, 0, pixels.Length);
            Seen.Add(new Seen(frame.Sequence, frame.Route, Convert.ToHexString(SHA256.HashData(pixels))));
        }

        public void Complete()
        {
        }

        public void Dispose() => _scratch.Dispose();
    }
}
