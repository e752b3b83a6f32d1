using System.Globalization;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace StreamDeblur.App;

/// <summary>
/// <c>streamdeblur compare</c>: a before/after picture of chosen frames. Each row is one frame: the input, the
/// output, and their absolute difference (grey, amplified), each labelled. Without <c>--frames</c>, the frame
/// that changed most is shown. <c>--crop</c> zooms to a region, as an examiner would to a face or a plate.
/// </summary>
public static class CompareCommand
{
    /// <summary>How much the difference panel is amplified, so that small corrections are visible.</summary>
    public const int DifferenceGain = 4;

    private const int LabelHeight = 28;

    public static int Execute(CommandLine command, ILoggerFactory loggers)
    {
        ILogger logger = loggers.CreateLogger("compare");
        string before = command["before"] ?? throw new UsageException("compare needs --before <video>");
        string after = command["after"] ?? throw new UsageException("compare needs --after <video>");
        string image = command["image"] ?? throw new UsageException("compare needs --image <png>");
        Rect? crop = command["crop"] is { } cropText ? ParseCrop(cropText) : null;
        int[] frames = command["frames"] is { } list ? ParseFrames(list) : [MostChanged(before, after, logger)];
        var pairs = new List<(Mat Before, Mat After)>();
        try
        {
            // One pass over both files; only the chosen frames are kept.
            using (var a = Open(before))
            using (var b = Open(after))
            {
                for (int index = 0; index <= frames.Max(); index++)
                {
                    var x = new Mat();
                    var y = new Mat();
                    if (!Read(a, x) || !Read(b, y))
                    {
                        x.Dispose();
                        y.Dispose();
                        throw new UsageException($"--frames: frame {index} is past the end of {before} or {after}");
                    }

                    if (x.Size() != y.Size())
                    {
                        x.Dispose();
                        y.Dispose();
                        throw new SourceException($"{before} is {x.Width}x{x.Height} but {after} is {y.Width}x{y.Height}: not the same video");
                    }

                    if (frames.Contains(index))
                    {
                        pairs.Add((x, y));
                    }
                    else
                    {
                        x.Dispose();
                        y.Dispose();
                    }
                }
            }

            Size size = pairs[0].Before.Size();
            Rect region = crop ?? new Rect(0, 0, size.Width, size.Height);
            if (region.X < 0 || region.Y < 0 || region.Right > size.Width || region.Bottom > size.Height || region.Width < 8 || region.Height < 8)
            {
                throw new UsageException($"--crop {region.X},{region.Y},{region.Width},{region.Height} is not inside the {size.Width}x{size.Height} frame");
            }

            int[] order = frames.Distinct().Order().ToArray();
            var rows = new List<Mat>();
            try
            {
                for (int i = 0; i < pairs.Count; i++)
                {
                    rows.Add(Row(pairs[i].Before, pairs[i].After, region, order[i]));
                }

                using var picture = new Mat();
                Cv2.VConcat(rows.ToArray(), picture);
                string? folder = Path.GetDirectoryName(Path.GetFullPath(image));
                if (folder is not null)
                {
                    Directory.CreateDirectory(folder);
                }

                if (!Cv2.ImWrite(image, picture))
                {
                    throw new SinkException($"cannot write the image {image} (use .png)");
                }
            }
            finally
            {
                rows.ForEach(r => r.Dispose());
            }

            Console.WriteLine($"wrote {image}: frames {string.Join(", ", order)} of {before} and {after}, input | output | difference x{DifferenceGain}");
            return 0;
        }
        finally
        {
            foreach ((Mat x, Mat y) in pairs)
            {
                x.Dispose();
                y.Dispose();
            }
        }
    }

    /// <summary>Input, output and amplified difference of one frame, side by side under their labels.</summary>
    private static Mat Row(Mat before, Mat after, Rect region, int index)
    {
        using var a = new Mat(before, region);
        using var b = new Mat(after, region);
        using var difference = new Mat();
        using var grey = new Mat();
        using var amplified = new Mat();
        Cv2.Absdiff(a, b, difference);
        Cv2.CvtColor(difference, grey, ColorConversionCodes.BGR2GRAY);
        grey.ConvertTo(grey, MatType.CV_8UC1, DifferenceGain);
        Cv2.CvtColor(grey, amplified, ColorConversionCodes.GRAY2BGR);
        Mat[] panels =
        [
            Labelled(a, $"input, frame {index}"),
            Labelled(b, $"output, frame {index}"),
            Labelled(amplified, $"|output - input| x{DifferenceGain}"),
        ];
        try
        {
            var row = new Mat();
            Cv2.HConcat(panels, row);
            return row;
        }
        finally
        {
            foreach (Mat panel in panels)
            {
                panel.Dispose();
            }
        }
    }

    private static Mat Labelled(Mat panel, string label)
    {
        var labelled = new Mat(panel.Rows + LabelHeight, panel.Cols, MatType.CV_8UC3, Scalar.All(255));
        using (var body = new Mat(labelled, new Rect(0, LabelHeight, panel.Cols, panel.Rows)))
        {
            panel.CopyTo(body);
        }

        Cv2.PutText(labelled, label, new Point(6, LabelHeight - 9), HersheyFonts.HersheySimplex, 0.55, Scalar.All(0), 1, LineTypes.AntiAlias);
        return labelled;
    }

    /// <summary>The frame whose output differs most from its input, on average over its pixels.</summary>
    private static int MostChanged(string before, string after, ILogger logger)
    {
        using VideoCapture a = Open(before);
        using VideoCapture b = Open(after);
        using var x = new Mat();
        using var y = new Mat();
        using var difference = new Mat();
        int best = 0;
        double most = -1;
        int index = 0;
        for (; Read(a, x) && Read(b, y) && x.Size() == y.Size(); index++)
        {
            Cv2.Absdiff(x, y, difference);
            double change = Cv2.Mean(difference).Val0;
            if (change > most)
            {
                (best, most) = (index, change);
            }
        }

        if (index == 0)
        {
            throw new SourceException($"{before} and {after} have no frame to compare (or not the same size)");
        }

        logger.LogInformation("frame {Frame} of {Frames} changed most (mean absolute difference {Change:F2})", best, index, most);
        return best;
    }

    private static VideoCapture Open(string path)
    {
        if (!File.Exists(path))
        {
            throw new SourceException($"input file not found: {path}");
        }

        var capture = new VideoCapture(path, VideoCaptureAPIs.FFMPEG);
        if (!capture.IsOpened())
        {
            capture.Dispose();
            throw new SourceException($"input is not a readable video (not a video file, or corrupt): {path}");
        }

        return capture;
    }

    private static bool Read(VideoCapture capture, Mat frame) => capture.Read(frame) && !frame.Empty();

    private static int[] ParseFrames(string text)
    {
        var frames = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int frame))
            {
                throw new UsageException($"--frames: '{part}' is not a frame number (0 is the first)");
            }

            frames.Add(frame);
        }

        return frames.Count is > 0 and <= 16 ? [.. frames] : throw new UsageException("--frames takes 1 to 16 frame numbers, comma-separated");
    }

    private static Rect ParseCrop(string text)
    {
        int[] values = text.Split(',').Select(v => int.TryParse(v.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : -1).ToArray();
        return values.Length == 4 && values.All(v => v >= 0)
            ? new Rect(values[0], values[1], values[2], values[3])
            : throw new UsageException($"--crop takes x,y,width,height in pixels, not '{text}'");
    }
}
