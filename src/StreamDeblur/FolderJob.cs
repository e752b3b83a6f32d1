using System.Text;

namespace StreamDeblur.App;

/// <summary>
/// <c>run --input DIR --output DIR</c>: every video of a folder (optionally its subfolders), each written to
/// the same relative path under the output folder. Files that an earlier run finished are skipped, so a rerun
/// resumes. <see cref="ListInputs"/> is the one place that decides which files a run takes, and in which order.
/// </summary>
public static class FolderJob
{
    /// <summary>The extensions taken as video, compared without case.</summary>
    public static readonly IReadOnlySet<string> VideoExtensions = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        ".mp4", ".m4v", ".mov", ".mkv", ".avi", ".ts", ".mts", ".m2ts", ".webm", ".wmv", ".flv", ".mpg", ".mpeg", ".3gp", ".dav", ".h264", ".h265",
    };

    /// <summary>Output containers that hold H.264, H.265 and the usual audio: the input's own is kept, any other becomes .mkv.</summary>
    private static readonly IReadOnlySet<string> s_keptContainers = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".mp4", ".m4v", ".mov", ".mkv" };

    /// <summary>One file of the folder and what the run does with it.</summary>
    /// <param name="Skip">Why it is not processed: done by an earlier run, or refused; null when it runs.</param>
    /// <param name="Refused">The skip is a refusal (counts as a failure).</param>
    public sealed record Entry(string Input, string Output, string RelativePath, StreamOptions? Stream, string? Skip, bool Refused);

    /// <summary>
    /// The video files to process, in ordinal order of their paths relative to <paramref name="inputDir"/>;
    /// the output folder, partial outputs and provenance records are never taken as inputs.
    /// </summary>
    public static IReadOnlyList<string> ListInputs(string inputDir, bool recursive, string outputDir)
    {
        string outputRoot = Path.TrimEndingDirectorySeparator(Path.GetFullPath(outputDir)) + Path.DirectorySeparatorChar;
        return Directory.EnumerateFiles(inputDir, "*", new EnumerationOptions { RecurseSubdirectories = recursive, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.Hidden })
            .Where(path => VideoExtensions.Contains(Path.GetExtension(path)))
            .Where(path => !Path.GetFileNameWithoutExtension(path).EndsWith(OutputNames.PartialMarker, StringComparison.Ordinal))
            .Where(path => !Path.GetFullPath(path).StartsWith(outputRoot, StringComparison.Ordinal))
            .OrderBy(path => Path.GetRelativePath(inputDir, path), StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Where a file's output goes: the same relative path under the output folder, as .mkv unless its container holds H.264 and audio.</summary>
    public static string OutputFor(string input, string inputDir, string outputDir)
    {
        string relative = Path.GetRelativePath(inputDir, input);
        string extension = s_keptContainers.Contains(Path.GetExtension(relative)) ? Path.GetExtension(relative) : ".mkv";
        return Path.Combine(outputDir, Path.ChangeExtension(relative, extension));
    }

    /// <summary>One entry per input file: a stream to run (from <paramref name="template"/>), or why it is skipped.</summary>
    public static IReadOnlyList<Entry> Plan(IReadOnlyList<string> inputs, string inputDir, string outputDir, StreamOptions template)
    {
        var entries = new List<Entry>();
        for (int i = 0; i < inputs.Count; i++)
        {
            string input = inputs[i];
            string output = OutputFor(input, inputDir, outputDir);
            string relative = Path.GetRelativePath(inputDir, input);
            if (!template.Overwrite && Provenance.IsCompleteFor(output, input))
            {
                entries.Add(new Entry(input, output, relative, null, "done by an earlier run", Refused: false));
                continue;
            }

            StreamOptions stream = Copy(template, StreamId(i, input), input, output);
            string? refusal = OutputSafety.Refusal(stream, [input]);
            entries.Add(refusal is null
                ? new Entry(input, output, relative, stream, null, Refused: false)
                : new Entry(input, output, relative, null, refusal, Refused: true));
        }

        return entries;
    }

    /// <summary>A stream id for the i-th file: its number and its name, as far as ids allow (letters, digits, '-', '_').</summary>
    private static string StreamId(int index, string input)
    {
        var name = new StringBuilder();
        foreach (char c in Path.GetFileNameWithoutExtension(input))
        {
            name.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_');
        }

        string id = $"{index + 1:D4}-{name}";
        return id.Length <= 64 ? id : id[..64];
    }

    private static StreamOptions Copy(StreamOptions template, string id, string input, string output) => new()
    {
        Id = id,
        Input = input,
        Output = output,
        Decoder = template.Decoder,
        Encoder = template.Encoder,
        Codec = template.Codec,
        Crf = template.Crf,
        Preset = template.Preset,
        Overwrite = template.Overwrite,
    };
}
