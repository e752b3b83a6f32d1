using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using StreamDeblur.Inference;

namespace StreamDeblur.App;

/// <summary>
/// Writes what a run did to each output, beside it (<see cref="OutputNames.Provenance"/>), so that anyone can
/// check the files and repeat the run: the input's path, size and SHA-256; the model's name, version, SHA-256
/// and execution provider; the effective config; the tool's version; start and end times; the frames by
/// route; and the outputs' SHA-256. As forensic video tools do, it records; it never alters the input.
/// </summary>
public sealed class Provenance
{
    private static readonly JsonSerializerOptions s_json = new(ConfigLoader.SerializerOptions)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // a version's '+' stays '+'
    };

    private readonly StreamDeblurOptions _options;
    private readonly ModelRecord _model;

    public Provenance(StreamDeblurOptions options, DeblurModel model)
    {
        _options = options;
        _model = new ModelRecord(model.Metadata.Name, model.Metadata.Version, Path.GetFullPath(model.ModelPath), Sha256(model.ModelPath), model.Provider);
    }

    public sealed record FileRecord(string Path, long SizeBytes, string Sha256, DateTime? ModifiedUtc = null);

    public sealed record ModelRecord(string Name, string? Version, string File, string Sha256, string ExecutionProvider);

    public sealed record Frames(long Written, long Sharp, long Deblurred, long SkippedOverload, long SkippedError, long Dropped);

    public sealed record ToolRecord(string Name, string Version, string Runtime, string Os, string Architecture, int Cores);

    public sealed record Record(
        string Result, string? Error, FileRecord? Input, string InputUrl, IReadOnlyList<FileRecord> Outputs, ModelRecord Model,
        ToolRecord Tool, DateTime StartedUtc, DateTime EndedUtc, Frames Frames, JsonNode Config, string Note);

    public static string ToolVersion { get; } =
        typeof(Provenance).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>Starts a stream's record: hashes a file input in the background while the stream runs.</summary>
    public Pending Begin(StreamOptions stream) => new(stream, DateTime.UtcNow,
        InputKind.Classify(stream.Input) == InputKindValue.File && File.Exists(stream.Input) ? Task.Run(() => Describe(stream.Input, withTime: true)) : null);

    /// <summary>One stream's record in the making.</summary>
    public sealed record Pending(StreamOptions Stream, DateTime StartedUtc, Task<FileRecord>? Input);

    /// <summary>Writes the sidecar of a stream's outputs; returns its path, or null when the stream wrote no file.</summary>
    public async Task<string?> WriteAsync(Pending pending, StreamProgress progress, IReadOnlyList<string> files, string result, string? error, long dropped)
    {
        if (files.Count == 0 || pending.Stream.Output is null)
        {
            return null;
        }

        FileRecord? input = pending.Input is null ? null : await pending.Input.ConfigureAwait(false);
        FileRecord[] outputs = files.Where(File.Exists).Select(f => Describe(f, withTime: false)).ToArray();
        StreamDeblurOptions effective = ConfigLoader.Parse(JsonSerializer.Serialize(_options, ConfigLoader.SerializerOptions));
        effective.Streams = [pending.Stream];
        var record = new Record(
            result, error, input, UrlRedactor.Redact(pending.Stream.Input), outputs, _model,
            new ToolRecord("streamdeblur", ToolVersion, RuntimeInformation.FrameworkDescription, RuntimeInformation.OSDescription,
                RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant(), Environment.ProcessorCount),
            pending.StartedUtc, DateTime.UtcNow,
            new Frames(progress.Written, progress.Sharp, progress.Deblurred, progress.SkippedOverload, progress.SkippedError, dropped),
            JsonSerializer.SerializeToNode(effective, ConfigLoader.SerializerOptions)!,
            "Deblurred frames are a learned restoration (a neural network's estimate), not a recording; the input file stays the evidence.");

        string path = OutputNames.Provenance(files.Count == 1 ? files[0] : pending.Stream.Output);
        string temporary = path + ".tmp";
        await File.WriteAllTextAsync(temporary, JsonSerializer.Serialize(record, s_json) + "\n").ConfigureAwait(false);
        File.Move(temporary, path, overwrite: true);
        return path;
    }

    /// <summary>The record of a finished output, if it has one that says it is complete and was made from this very input file.</summary>
    public static bool IsCompleteFor(string output, string input)
    {
        string sidecar = OutputNames.Provenance(output);
        if (!File.Exists(output) || !File.Exists(sidecar))
        {
            return false;
        }

        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(sidecar));
            JsonElement root = doc.RootElement;
            var file = new FileInfo(input);
            return root.GetProperty("result").GetString() == "complete"
                && root.GetProperty("input").GetProperty("size_bytes").GetInt64() == file.Length
                && root.GetProperty("input").GetProperty("modified_utc").GetDateTime() == file.LastWriteTimeUtc;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return false;
        }
    }

    private static FileRecord Describe(string path, bool withTime)
    {
        var file = new FileInfo(path);
        return new FileRecord(file.FullName, file.Length, Sha256(path), withTime ? file.LastWriteTimeUtc : null);
    }

    public static string Sha256(string path)
    {
        using FileStream stream = new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 20);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
