using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using StreamDeblur.Inference;
using StreamDeblur.Video;

namespace StreamDeblur.App;

/// <summary>
/// <c>streamdeblur eval</c>: PSNR and SSIM of the blurry input and of the model's output against the sharp
/// image, over a folder of NNN_sharp.png / NNN_blurry.png pairs, plus the model's time per 1280×720 frame.
/// It also feeds each sharp image in and scores the output against it (the identity: how much the network
/// changes a frame that needs nothing), and, where the folder's manifest.json gives each pair's blur type and
/// extent (training/heldout.py writes one), breaks the gains down by both.
/// </summary>
public static class EvalCommand
{
    public sealed record PairResult(
        string Name, double BlurryPsnr, double OutputPsnr, double BlurrySsim, double OutputSsim, double IdentityPsnr,
        string BlurType, double? BlurExtent);

    public sealed record GroupResult(string Group, int Pairs, double PsnrGain, double SsimGain);

    public sealed record Summary(
        string Model, string Provider, int Pairs,
        double BlurryPsnr, double OutputPsnr, double PsnrGain,
        double BlurrySsim, double OutputSsim, double SsimGain,
        double IdentityPsnr, double Ms720p,
        IReadOnlyList<GroupResult> ByType, IReadOnlyList<GroupResult> ByExtent, IReadOnlyList<PairResult> Results);

    public static int Execute(CommandLine command, ILoggerFactory loggers)
    {
        string dir = command["dir"] ?? throw new UsageException("eval needs --dir <folder of NNN_sharp.png / NNN_blurry.png pairs>");
        StreamDeblurOptions options = ConfigLoader.Load(command["config"]);
        if (command["model"] is { } metadata)
        {
            options.Model.Metadata = metadata;
        }

        ConfigLoader.ThrowIfInvalid(WithPlaceholderStream(options));
        using DeblurModel model = DeblurModel.Load(options.Model, loggers.CreateLogger("model"));
        string? saveDir = command["save"];
        if (saveDir is not null)
        {
            Directory.CreateDirectory(saveDir);
        }

        Summary summary = Evaluate(model, options.Model, dir, saveDir: saveDir);

        Console.WriteLine($"model {summary.Model} on {summary.Provider}, {summary.Pairs} pairs from {dir}");
        Console.WriteLine($"{"",-12} {"PSNR dB",10} {"SSIM",8}");
        Console.WriteLine($"{"blurry",-12} {summary.BlurryPsnr,10:F2} {summary.BlurrySsim,8:F4}");
        Console.WriteLine($"{"deblurred",-12} {summary.OutputPsnr,10:F2} {summary.OutputSsim,8:F4}");
        Console.WriteLine($"{"gain",-12} {summary.PsnrGain,10:+0.00;-0.00} {summary.SsimGain,8:+0.0000;-0.0000}");
        Console.WriteLine($"{"identity",-12} {summary.IdentityPsnr,10:F2}          (sharp images fed in, against themselves)");
        foreach ((string title, IReadOnlyList<GroupResult> groups) in new[] { ("blur type", summary.ByType), ("blur extent", summary.ByExtent) })
        {
            if (groups.Count > 1)
            {
                Console.WriteLine($"gain by {title}: " + string.Join(", ", groups.Select(g => $"{g.Group} {g.PsnrGain:+0.00;-0.00} dB / {g.SsimGain:+0.000;-0.000} (n={g.Pairs})")));
            }
        }

        Console.WriteLine($"time per 1280x720 frame: {summary.Ms720p:F1} ms ({1000 / summary.Ms720p:F1} fps, batch 1, {summary.Provider})");
        if (command["json"] is { } jsonPath)
        {
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(summary, ConfigLoader.SerializerOptions));
        }

        return 0;
    }

    /// <param name="saveDir">Where to write each pair's output as NNN_deblurred.png (for pictures), or null.</param>
    public static Summary Evaluate(DeblurModel model, ModelOptions modelOptions, string dir, int timingRuns = 5, string? saveDir = null)
    {
        if (!Directory.Exists(dir))
        {
            throw new ConfigException($"eval folder not found: {dir}");
        }

        string[] sharpFiles = Directory.GetFiles(dir, "*_sharp.png").Order(StringComparer.Ordinal).ToArray();
        if (sharpFiles.Length == 0)
        {
            throw new ConfigException($"eval folder {dir} holds no NNN_sharp.png / NNN_blurry.png pairs");
        }

        using var stage = new DeblurStage(model, modelOptions, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Dictionary<string, (string Type, double? Extent)> degradations = ReadDegradations(dir);
        var results = new List<PairResult>();
        foreach (string sharpPath in sharpFiles)
        {
            string name = Path.GetFileName(sharpPath)[..^"_sharp.png".Length];
            string blurryPath = Path.Combine(dir, name + "_blurry.png");
            using Mat sharp = Cv2.ImRead(sharpPath, ImreadModes.Color);
            using Mat blurry = Cv2.ImRead(blurryPath, ImreadModes.Color);
            if (sharp.Empty() || blurry.Empty())
            {
                throw new ConfigException($"cannot read the pair {name} in {dir}");
            }

            using Frame restored = Restore(stage, blurry);
            using Frame identity = Restore(stage, sharp);
            if (saveDir is not null)
            {
                Cv2.ImWrite(Path.Combine(saveDir, name + "_deblurred.png"), restored.Image);
            }

            (string type, double? extent) = degradations.GetValueOrDefault(name, ("", (double?)null));
            results.Add(new PairResult(name,
                ImageQuality.Psnr(blurry, sharp), ImageQuality.Psnr(restored.Image, sharp),
                ImageQuality.Ssim(blurry, sharp), ImageQuality.Ssim(restored.Image, sharp),
                ImageQuality.Psnr(identity.Image, sharp), type, extent));
        }

        double ms = TimePerFrame(stage, 1280, 720, timingRuns);
        double blurryPsnr = results.Average(r => r.BlurryPsnr);
        double outputPsnr = results.Average(r => r.OutputPsnr);
        double blurrySsim = results.Average(r => r.BlurrySsim);
        double outputSsim = results.Average(r => r.OutputSsim);
        return new Summary(model.Metadata.Name, model.Provider, results.Count,
            blurryPsnr, outputPsnr, outputPsnr - blurryPsnr, blurrySsim, outputSsim, outputSsim - blurrySsim,
            results.Average(r => r.IdentityPsnr), ms,
            Group(results, r => r.BlurType), Group(results, r => ExtentBin(r.BlurExtent)), results);
    }

    private static Frame Restore(DeblurStage stage, Mat image)
    {
        var frame = new Frame("eval", 0, TimeSpan.Zero, image.Clone());
        stage.Process(frame);
        return frame;
    }

    /// <summary>Extent bins of the model card's tables; the leading digit keeps them in order.</summary>
    public static string ExtentBin(double? extent) => extent is null ? "" : extent < 8 ? "1: <8 px" : extent < 16 ? "2: 8-16 px" : "3: >=16 px";

    private static List<GroupResult> Group(List<PairResult> results, Func<PairResult, string> key) =>
        results.Where(r => key(r).Length > 0).GroupBy(key).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new GroupResult(g.Key, g.Count(),
                g.Average(r => r.OutputPsnr) - g.Average(r => r.BlurryPsnr),
                g.Average(r => r.OutputSsim) - g.Average(r => r.BlurrySsim)))
            .ToList();

    /// <summary>Each pair's blur type and extent from the folder's manifest.json, where it has one.</summary>
    private static Dictionary<string, (string Type, double? Extent)> ReadDegradations(string dir)
    {
        var found = new Dictionary<string, (string, double?)>(StringComparer.Ordinal);
        string path = Path.Combine(dir, "manifest.json");
        if (!File.Exists(path))
        {
            return found;
        }

        try
        {
            using JsonDocument manifest = JsonDocument.Parse(File.ReadAllText(path));
            if (!manifest.RootElement.TryGetProperty("pairs", out JsonElement pairs))
            {
                return found;
            }

            foreach (JsonElement pair in pairs.EnumerateArray())
            {
                if (pair.TryGetProperty("id", out JsonElement id) && pair.TryGetProperty("degradation", out JsonElement d)
                    && d.TryGetProperty("type", out JsonElement type))
                {
                    double? extent = d.TryGetProperty("extent", out JsonElement e) ? e.GetDouble()
                        : d.TryGetProperty("length", out JsonElement l) ? l.GetDouble()
                        : d.TryGetProperty("radius", out JsonElement r) ? 2 * r.GetDouble() : null; // a defocus disc: its diameter
                    found[id.GetString() ?? ""] = (type.GetString() ?? "", extent);
                }
            }
        }
        catch (JsonException ex)
        {
            throw new ConfigException($"eval folder {dir}: manifest.json is not valid JSON ({ex.Message})");
        }

        return found;
    }

    /// <summary>Median milliseconds for one frame of the given size through pack, network and unpack.</summary>
    public static double TimePerFrame(DeblurStage stage, int width, int height, int runs)
    {
        using var image = new Mat(height, width, MatType.CV_8UC3);
        Cv2.Randu(image, Scalar.All(0), Scalar.All(255));
        var times = new List<double>();
        for (int i = 0; i <= runs; i++)
        {
            var frame = new Frame("timing", i, TimeSpan.Zero, image.Clone());
            long start = Stopwatch.GetTimestamp();
            stage.Process(frame);
            double elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            frame.Dispose();
            if (i > 0)
            {
                times.Add(elapsed); // the first run is a warm-up
            }
        }

        times.Sort();
        return times[times.Count / 2];
    }

    private static StreamDeblurOptions WithPlaceholderStream(StreamDeblurOptions options)
    {
        if (options.Streams.Count == 0)
        {
            options.Streams = [new StreamOptions { Id = "eval", Input = "eval", Output = "eval.mkv" }];
        }

        return options;
    }
}
