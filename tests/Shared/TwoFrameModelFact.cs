using Xunit;

namespace StreamDeblur.Tests;

/// <summary>
/// Where the two-frame (fixed-camera) model under test is: <c>STREAMDEBLUR_FIXED_MODEL</c> (a metadata file, to try
/// another model without copying it into models/), else the shipped <c>models/deblur-fixed.json</c>. Null when
/// neither exists: the lead trains it and ships it later.
/// </summary>
public static class TwoFrameModel
{
    public static string? Metadata { get; } = Find();

    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("STREAMDEBLUR_FIXED_MODEL") is { Length: > 0 } chosen)
        {
            return Path.GetFullPath(chosen, TestPaths.RepoRoot);
        }

        string shipped = Path.Combine(TestPaths.RepoRoot, "models", "deblur-fixed.json");
        return File.Exists(shipped) ? shipped : null;
    }
}

/// <summary>A fact about the shipped two-frame model: skipped, with the reason, until models/deblur-fixed.json exists.</summary>
public sealed class TwoFrameModelFactAttribute : FactAttribute
{
    public TwoFrameModelFactAttribute()
    {
        if (TwoFrameModel.Metadata is null)
        {
            Skip = "models/deblur-fixed.json is not shipped yet (or set STREAMDEBLUR_FIXED_MODEL to a two-frame model's metadata)";
        }
    }
}
