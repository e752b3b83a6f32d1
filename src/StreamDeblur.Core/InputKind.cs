using System.Text.RegularExpressions;

namespace StreamDeblur;

public enum InputKindValue
{
    File,
    Network,
    Camera,
    Unsupported,
}

/// <summary>Tells files, network URLs and cameras apart.</summary>
public static partial class InputKind
{
    public static InputKindValue Classify(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (CameraIndexPattern().IsMatch(input) || input.StartsWith("/dev/video", StringComparison.Ordinal))
        {
            return InputKindValue.Camera;
        }

        int schemeEnd = input.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
        {
            return InputKindValue.File;
        }

        string scheme = input[..schemeEnd].ToLowerInvariant();
        return scheme switch
        {
            "rtsp" or "rtsps" or "rtmp" or "http" or "https" or "udp" or "tcp" or "srt" => InputKindValue.Network,
            "file" => InputKindValue.File,
            _ => InputKindValue.Unsupported,
        };
    }

    public static bool IsLive(string input) => Classify(input) is InputKindValue.Network or InputKindValue.Camera;

    [GeneratedRegex(@"^\d{1,3}$")]
    private static partial Regex CameraIndexPattern();
}

/// <summary>Removes credentials from URLs before they reach a log line, a metric or an error message.</summary>
public static partial class UrlRedactor
{
    public static string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? "";
        }

        return UserInfoPattern().Replace(text, "$1***@");
    }

    // scheme://user:password@host or scheme://token@host
    [GeneratedRegex(@"([a-zA-Z][a-zA-Z0-9+.\-]*://)[^/@\s]+@")]
    private static partial Regex UserInfoPattern();
}
