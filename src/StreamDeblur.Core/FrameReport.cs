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
            _json.WriteEndObject();
            _json.Flush();
            _writer.WriteLine(Encoding.UTF8.GetString(_line.GetBuffer(), 0, (int)_line.Length));
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
