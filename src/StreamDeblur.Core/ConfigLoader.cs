using System.Text.Json;
using System.Text.Json.Serialization;

namespace StreamDeblur;

/// <summary>Configuration that cannot be used; the message names every problem and its key.</summary>
public sealed class ConfigException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Reads the JSON config strictly: unknown keys, wrong types and invalid values are errors.</summary>
public static class ConfigLoader
{
    public static readonly JsonSerializerOptions SerializerOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        NumberHandling = JsonNumberHandling.Strict,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Loads a config file; a null path gives the defaults.</summary>
    public static StreamDeblurOptions Load(string? path)
    {
        if (path is null)
        {
            return new StreamDeblurOptions();
        }

        path = InstalledFiles.Find(path);
        if (!File.Exists(path))
        {
            throw new ConfigException($"config file not found: {path}");
        }

        return Parse(File.ReadAllText(path), path);
    }

    public static StreamDeblurOptions Parse(string json, string sourceName = "config")
    {
        try
        {
            return JsonSerializer.Deserialize<StreamDeblurOptions>(json, SerializerOptions)
                ?? throw new ConfigException($"{sourceName}: the file is empty or null");
        }
        catch (JsonException ex)
        {
            // System.Text.Json names the JSON path ($.batching.max_batch_size) and the bad token.
            throw new ConfigException($"{sourceName}: {Describe(ex)}", ex);
        }
    }

    /// <summary>Throws a <see cref="ConfigException"/> listing every invalid value.</summary>
    public static void ThrowIfInvalid(StreamDeblurOptions options)
    {
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ConfigException("invalid configuration: " + string.Join("; ", errors));
        }
    }

    private static string Describe(JsonException ex)
    {
        string message = ex.Message;
        int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        string head = cut > 0 ? message[..cut] : message;
        string where = ex.LineNumber is { } line ? $" (line {line + 1})" : "";
        if (head.Contains("could not be mapped", StringComparison.Ordinal))
        {
            return $"unknown key at {ex.Path}{where}: {head}";
        }

        return $"{head}{where}";
    }
}
