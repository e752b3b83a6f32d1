namespace StreamDeblur;

/// <summary>
/// Finds the shipped files (config, model) from any working directory: a relative path that does not exist
/// in the working directory is looked up beside the installed binary, where the build puts copies of
/// config/ and models/. So a published build works from any folder.
/// </summary>
public static class InstalledFiles
{
    /// <summary>The path as given when it exists (or is absolute), else the same path beside the binary if that exists, else the path as given.</summary>
    public static string Find(string path)
    {
        if (Path.IsPathRooted(path) || File.Exists(path))
        {
            return path;
        }

        string installed = Path.Combine(AppContext.BaseDirectory, path);
        return File.Exists(installed) ? installed : path;
    }
}
