namespace StreamDeblur.Video;

/// <summary>Creates an output file's folder, or says which stream and folder could not be created.</summary>
internal static class OutputFolder
{
    public static void Create(string streamId, string outputPath)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(outputPath));
        if (folder is null)
        {
            return;
        }

        try
        {
            Directory.CreateDirectory(folder);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SinkException($"stream {streamId}: cannot create the output folder {folder}: {ex.Message}", ex);
        }
    }
}
