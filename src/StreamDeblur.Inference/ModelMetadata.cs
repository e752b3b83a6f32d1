using System.Text.Json;
using System.Text.Json.Serialization;

namespace StreamDeblur.Inference;

/// <summary>The model could not be loaded or does not fit the pipeline. The message names the file and the problem.</summary>
public sealed class ModelException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// What the C# side needs to know about a shipped model (models/*.json, written by training/export_onnx.py).
/// The pixel transform is x = (pixel × scale − mean) / std per channel; the output is inverted the same way.
/// </summary>
public sealed class ModelMetadata
{
    public string Name { get; set; } = "";
    public string File { get; set; } = "";
    public string? Fp16File { get; set; }
    public string? Int8File { get; set; }
    public string Input { get; set; } = "input";
    public string Output { get; set; } = "output";

    /// <summary>
    /// A two-frame (fixed-camera) model's second input: the sharp reference, aligned to the frame in
    /// <see cref="Input"/>, in the same layout and shape. Null for single-frame models.
    /// </summary>
    public string? ReferenceInput { get; set; }
    public string Layout { get; set; } = "NCHW";
    public string ColorOrder { get; set; } = "BGR";
    public double Scale { get; set; } = 1.0 / 255;
    public double[] Mean { get; set; } = [0, 0, 0];
    public double[] Std { get; set; } = [1, 1, 1];
    public int PadMultiple { get; set; } = 16;
    public double[]? OutputClamp { get; set; }
    public int Opset { get; set; }
    public long Params { get; set; }
    [JsonPropertyName("gmac_720p")]
    public double Gmac720p { get; set; }
    public string? Version { get; set; }

    /// <summary>The folder the metadata file was read from; model files are relative to it.</summary>
    [JsonIgnore]
    public string Directory { get; private set; } = "";

    [JsonIgnore]
    public bool IsBgr => ColorOrder.Equals("BGR", StringComparison.OrdinalIgnoreCase);

    /// <summary>The model file for the chosen precision: FP32 (<see cref="File"/>), FP16 or INT8.</summary>
    public string ModelPath(bool fp16, bool int8 = false) => Path.Combine(Directory, (fp16, int8) switch
    {
        (true, _) => Fp16File ?? throw new ModelException($"model '{Name}' has no fp16_file in its metadata"),
        (_, true) => Int8File ?? throw new ModelException($"model '{Name}' has no int8_file in its metadata"),
        _ => File,
    });

    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        ReadCommentHandling = JsonCommentHandling.Skip,
    };

    public static ModelMetadata Load(string path)
    {
        if (!System.IO.File.Exists(path))
        {
            throw new ModelException($"model metadata not found: {path}");
        }

        ModelMetadata metadata;
        try
        {
            metadata = JsonSerializer.Deserialize<ModelMetadata>(System.IO.File.ReadAllText(path), s_json)
                ?? throw new ModelException($"model metadata is empty: {path}");
        }
        catch (JsonException ex)
        {
            throw new ModelException($"model metadata {path} is not valid: {ex.Message}", ex);
        }

        metadata.Directory = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        metadata.ThrowIfInvalid(path);
        return metadata;
    }

    private void ThrowIfInvalid(string path)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(File)) errors.Add("file is required");
        if (!Layout.Equals("NCHW", StringComparison.OrdinalIgnoreCase)) errors.Add($"layout '{Layout}' is not supported (NCHW only)");
        if (!(ColorOrder is "BGR" or "RGB")) errors.Add($"color_order '{ColorOrder}' is not BGR or RGB");
        if (Mean.Length != 3) errors.Add("mean needs 3 values");
        if (Std.Length != 3 || Std.Any(s => s == 0)) errors.Add("std needs 3 non-zero values");
        if (!(Scale > 0)) errors.Add("scale must be positive");
        if (PadMultiple is < 1 or > 256) errors.Add($"pad_multiple {PadMultiple} is outside 1..256");
        if (ReferenceInput is not null && (ReferenceInput.Length == 0 || ReferenceInput == Input)) errors.Add($"reference_input '{ReferenceInput}' must name a second input, not '{Input}'");
        if (errors.Count > 0)
        {
            throw new ModelException($"model metadata {path}: {string.Join("; ", errors)}");
        }
    }
}
