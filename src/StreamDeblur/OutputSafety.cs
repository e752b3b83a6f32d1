using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using StreamDeblur.Video;

namespace StreamDeblur.App;

/// <summary>
/// The checks that keep a run from destroying a recording, made before anything is opened: an output that is
/// an input (by path, or by device and inode through links), two streams writing one file, and an existing
/// output without <c>--overwrite</c> are refused, each with one line. A partial output left by an earlier run
/// is named in one line.
/// </summary>
public static partial class OutputSafety
{
    /// <summary>Throws <see cref="SinkException"/> on the first refusal; logs the partial outputs of earlier runs.</summary>
    public static void Check(IReadOnlyList<StreamOptions> streams, ILogger logger)
    {
        string[] inputs = streams.Where(s => InputKind.Classify(s.Input) == InputKindValue.File).Select(s => s.Input).ToArray();
        var outputs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (StreamOptions stream in streams)
        {
            if (stream.Output is null)
            {
                continue;
            }

            if (Refusal(stream, inputs) is { } refusal)
            {
                throw new SinkException(refusal);
            }

            string full = Path.GetFullPath(stream.Output);
            if (outputs.Keys.FirstOrDefault(o => SameFile(o, full)) is { } clash)
            {
                throw new SinkException($"streams {outputs[clash]} and {stream.Id} would both write {stream.Output}; give each its own output");
            }

            outputs[full] = stream.Id;
            WarnAboutEarlierPartial(stream, logger);
        }
    }

    /// <summary>Why this stream's output may not be written, or null.</summary>
    public static string? Refusal(StreamOptions stream, IEnumerable<string> inputs)
    {
        string output = stream.Output ?? throw new ArgumentException("the stream has no output", nameof(stream));
        string first = FirstFile(stream);
        foreach (string input in inputs)
        {
            foreach (string written in new[] { output, first, OutputNames.Partial(first) })
            {
                if (SameFile(written, input))
                {
                    return $"output {output} is the input {input} (the same file): writing it would destroy the recording; choose another output";
                }
            }
        }

        if (!stream.Overwrite && File.Exists(first))
        {
            return $"output {first} exists; pass --overwrite (or set \"overwrite\": true on the stream) to replace it";
        }

        return null;
    }

    /// <summary>Says, in one line, that an earlier run left a partial output that this run will write anew.</summary>
    public static void WarnAboutEarlierPartial(StreamOptions stream, ILogger logger)
    {
        string partial = OutputNames.Partial(FirstFile(stream));
        if (File.Exists(partial))
        {
            logger.LogWarning("found partial output {Partial} from an earlier run ({Bytes:N0} bytes; stopped, failed or killed before its end); this run writes it anew",
                partial, new FileInfo(partial).Length);
        }
    }

    /// <summary>The first file a stream writes: its output, or its first segment.</summary>
    private static string FirstFile(StreamOptions stream) =>
        stream.SegmentSeconds > 0 ? VideoFileSink.SegmentPath(stream.Output!, 0) : stream.Output!;

    /// <summary>True when both paths name one file: the same full path, or the same device and inode (links, bind mounts).</summary>
    public static bool SameFile(string a, string b)
    {
        if (string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), StringComparison.Ordinal))
        {
            return true;
        }

        return Identity(a) is { } first && Identity(b) is { } second && first == second;
    }

    private static unsafe (ulong Device, ulong Inode)? Identity(string path)
    {
        if (!OperatingSystem.IsLinux() || !File.Exists(path))
        {
            return null;
        }

        // struct stat starts with st_dev and st_ino, both 64-bit, on x86-64 and arm64 Linux.
        byte* buffer = stackalloc byte[256];
        return StatNative(path, buffer) == 0 ? (*(ulong*)buffer, *(ulong*)(buffer + 8)) : null;
    }

    [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int StatNative(string path, byte* buffer);
}
