using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using StreamDeblur.App;
using StreamDeblur.Inference;
using StreamDeblur.Video;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>The whole pipeline on the shipped clip (real H.264 input, real model, real encoder), checked with ffprobe.</summary>
public sealed class SampleClipTests
{
    [Fact]
    public async Task EveryFrameComesOutInOrderAndTheBlurryOnesAreDeblurred()
    {
        string dir = TestPaths.TempDir("e2e");
        string output = Path.Combine(dir, "sample.mkv");
        string reportPath = Path.Combine(dir, "frames.jsonl");
        StreamDeblurOptions options = ConfigLoader.Load(Path.Combine(TestPaths.RepoRoot, "config", "streamdeblur.json"));
        options.Streams = [new StreamOptions { Id = "sample", Input = TestPaths.SampleClip, Output = output }];
        options.Model.Metadata = TestPaths.ModelMetadata;
        ConfigLoader.ThrowIfInvalid(options);

        using (DeblurModel model = DeblurModel.Load(options.Model, NullLogger.Instance))
        using (var report = new FrameReport(reportPath))
        {
            await using var pipeline = new FramePipeline(options, model, report, NullLoggerFactory.Instance, new PipelineState());
            IReadOnlyList<StreamResult> results = await pipeline.RunAsync(CancellationToken.None, CancellationToken.None);
            Assert.Null(Assert.Single(results).Error);
        }

        // The output has every frame, with the input's size and frame rate.
        ProbeResult input = FfProbe.Probe(TestPaths.SampleClip);
        ProbeResult result = FfProbe.Probe(output);
        Assert.Equal(input.Frames, result.Frames);
        Assert.Equal((input.Width, input.Height), (result.Width, result.Height));
        Assert.Equal(input.Fps, result.Fps, precision: 2);

        // The report has one line per frame, in order, with increasing timestamps.
        var lines = File.ReadAllLines(reportPath).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(Enumerable.Range(0, input.Frames).Select(i => (long)i), lines.Select(l => l.GetProperty("seq").GetInt64()));
        var pts = lines.Select(l => l.GetProperty("pts_ms").GetDouble()).ToList();
        Assert.True(pts.Zip(pts.Skip(1)).All(p => p.Second > p.First));

        // Blur routing agrees with where the clip was blurred (samples/vtest-blur.truth.json).
        using JsonDocument truth = JsonDocument.Parse(File.ReadAllText(TestPaths.SampleTruth));
        var blurred = truth.RootElement.GetProperty("blurred_frames").EnumerateArray().Select(e => e.GetInt64()).ToHashSet();
        var deblurred = lines.Where(l => l.GetProperty("route").GetString() == "deblurred").Select(l => l.GetProperty("seq").GetInt64()).ToHashSet();
        double recall = (double)deblurred.Count(blurred.Contains) / blurred.Count;
        double falsePositiveRate = (double)deblurred.Count(s => !blurred.Contains(s)) / (input.Frames - blurred.Count);
        Assert.True(recall >= 0.8, $"only {recall:P0} of the blurred frames were deblurred");
        Assert.True(falsePositiveRate <= 0.1, $"{falsePositiveRate:P0} of the sharp frames were sent to the network");

        // With a report, the estimator measures the motion cue too (it skips it otherwise): blurred frames carry one.
        int withMotion = lines.Count(l => blurred.Contains(l.GetProperty("seq").GetInt64()) && l.GetProperty("motion_extent_px").GetDouble() > 0);
        Assert.True(withMotion >= blurred.Count / 2, $"only {withMotion} of {blurred.Count} blurred frames report a motion extent");

        // Sharp frames pass untouched (up to the encoder), deblurred frames come out sharper than they went in.
        double sharpnessIn = 0, sharpnessOut = 0;
        using (var inCapture = new VideoCapture(TestPaths.SampleClip))
        using (var outCapture = new VideoCapture(output))
        using (var estimator = new BlurEstimator(options.Blur))
        using (var a = new Mat())
        using (var b = new Mat())
        {
            for (long i = 0; inCapture.Read(a) && outCapture.Read(b); i++)
            {
                if (deblurred.Contains(i))
                {
                    sharpnessIn += estimator.Measure(a).Sharpness;
                    sharpnessOut += estimator.Measure(b).Sharpness;
                }
                else if (i % 10 == 0)
                {
                    Assert.True(Cv2.PSNR(a, b) > 30, $"sharp frame {i} changed more than re-encoding explains ({Cv2.PSNR(a, b):F1} dB)");
                }
            }
        }

        Assert.True(sharpnessOut > sharpnessIn * 1.2, $"deblurred frames are not sharper: {sharpnessIn:F0} in, {sharpnessOut:F0} out");
    }
}
