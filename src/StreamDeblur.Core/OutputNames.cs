namespace StreamDeblur;

/// <summary>
/// Where an output is written while it grows, and where its record goes. An output is written under a name
/// that says it is partial, beside its target, and renamed into place only when its stream ends well; so a
/// killed or failed run never leaves a file under the final name that looks complete.
/// </summary>
public static class OutputNames
{
    public const string PartialMarker = ".partial";

    /// <summary><c>dir/name.partial.ext</c> for <c>dir/name.ext</c>.</summary>
    public static string Partial(string path)
    {
        string dir = Path.GetDirectoryName(path) ?? "";
        return Path.Combine(dir, Path.GetFileNameWithoutExtension(path) + PartialMarker + Path.GetExtension(path));
    }

    /// <summary>The provenance sidecar of an output file: <c>name.ext.provenance.json</c>.</summary>
    public static string Provenance(string path) => path + ".provenance.json";
}

/// <summary>One output file: written under its partial name, then published under its final one.</summary>
public sealed class OutputFile(string finalPath)
{
    public string FinalPath { get; } = finalPath;

    public string PartialPath { get; } = OutputNames.Partial(finalPath);

    public bool IsPublished { get; private set; }

    /// <summary>Where the file is on disk now.</summary>
    public string CurrentPath => IsPublished ? FinalPath : PartialPath;

    /// <summary>Renames the finished file into place (replacing what is there: the run was allowed to).</summary>
    public void Publish()
    {
        if (!IsPublished && File.Exists(PartialPath))
        {
            File.Move(PartialPath, FinalPath, overwrite: true);
            IsPublished = true;
        }
    }
}
