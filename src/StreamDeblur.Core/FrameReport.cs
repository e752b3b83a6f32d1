using System.Text;
using System.Text.Json;

namespace StreamDeblur;

/// <summary>Writes one JSON line per output frame: its score, route and timings. Thread-safe.</summary>
public sealed class FrameReport : IDisposable
{
    private readonly StreamWriter _writer;
    private readonly Utf8JsonWriter _json;
    private readonly MemoryStream _line = new();
    private readonly object _gate = new();

    public FrameReport(string path)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        _writer = new StreamWriter(path, append: false, new UTF8Encoding(false)) { AutoFlush = false };
        _json = new Utf8JsonWriter(_line);
    }

    public void Write(Frame frame, double latencySeconds)
    {
        lock (_gate)
        {
            _line.SetLength(0);
            _json.Reset(_line);
            _json.WriteStartObject();
            _json.WriteString("stream", frame.StreamId);
            _json.WriteNumber("seq", frame.Sequence);
            _json.WriteNumber("pts_ms", Math.Round(frame.Timestamp.TotalMilliseconds, 3));
            _json.WriteNumber("width", frame.Width);
            _json.WriteNumber("height", frame.Height);
            _json.WriteNumber("sharpness", Math.Round(frame.Blur.Sharpness, 3));
            _json.WriteNumber("baseline", Math.Round(frame.Blur.Baseline, 3));
            _json.WriteNumber("motion_angle_deg", Math.Round(frame.Blur.MotionAngleDegrees, 1));
            _json.WriteNumber("motion_coherence", Math.Round(frame.Blur.MotionCoherence, 3));
            _json.WriteNumber("motion_extent_px", Math.Round(frame.Blur.MotionExtentPixels, 1));
            _json.WriteBoolean("blurry", frame.Blur.IsBlurry);
            _json.WriteString("route", RouteName(frame.Route));
            _json.WriteNumber("batch_size", frame.BatchSize);
            _json.WriteNumber("estimate_ms", Math.Round(frame.EstimateSeconds * 1000, 3));
            _json.WriteNumber("deblur_ms", Math.Round(frame.DeblurSeconds * 1000, 3));
            _json.WriteNumber("latency_ms", Math.Round(latencySeconds * 1000, 3));
            if (frame.FixedCamera is { } fixedCamera)
            {
                WriteFixedCamera(frame, fixedCamera);
            }

            _json.WriteEndObject();
            _json.Flush();
            _writer.WriteLine(Encoding.UTF8.GetString(_line.GetBuffer(), 0, (int)_line.Length));
        }
    }

    /// <summary>Fixed-camera streams only, so that other streams' lines stay exactly as they were.</summary>
    private void WriteFixedCamera(Frame frame, FixedCameraInfo info)
    {
        _json.WriteBoolean("reference_used", frame.ReferenceUsed);
        if (info.Outcome == ReferenceOutcome.NotNeeded)
        {
            _json.WriteNull("reference_outcome");
        }
        else
        {
            _json.WriteString("reference_outcome", FixedCameraInfo.Name(info.Outcome));
        }

        WriteNumberOrNull("reference_age_ms", info.ReferenceAgeMs, 3);
        if (info.ReferenceAgeFrames >= 0)
        {
            _json.WriteNumber("reference_age_frames", info.ReferenceAgeFrames);
        }
        else
        {
            _json.WriteNull("reference_age_frames");
        }

        WriteNumberOrNull("alignment_quality", info.AlignmentQuality, 4);
        _json.WriteNumber("align_ms", Math.Round(info.AlignSeconds * 1000, 3));
        WriteNumberOrNull("reference_verified_fraction", info.VerifiedFraction, 4);
        WriteNumberOrNull("sharpness_after", frame.SharpnessAfter, 3);
    }

    private void WriteNumberOrNull(string name, double value, int digits)
    {
        if (double.IsFinite(value))
        {
            _json.WriteNumber(name, Math.Round(value, digits));
        }
        else
        {
            _json.WriteNull(name);
        }
    }

    public static string RouteName(FrameRoute route) => route switch
    {
        FrameRoute.Sharp => "sharp",
        FrameRoute.Deblurred => "deblurred",
        FrameRoute.SkippedOverload => "skipped_overload",
        FrameRoute.SkippedError => "skipped_error",
        _ => "pending",
    };

    public void Flush()
    {
        lock (_gate)
        {
            _writer.Flush();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _json.Dispose();
            _writer.Dispose();
        }
    }
}
