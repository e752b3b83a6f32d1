namespace StreamDeblur.App;

/// <summary>
/// <c>streamdeblur shards</c>: which shard holds each stream of a config, or each file of a folder, for a number of
/// replicas. One line per key, <c>shard&lt;TAB&gt;key</c>, in key order, then one line of loads on stderr. It computes
/// what every replica computes at start-up (<see cref="ShardSelection"/>), so an operator can find the pod of a camera.
/// </summary>
public static class ShardsCommand
{
    public static int Execute(CommandLine command)
    {
        int count = command.GetInt("shard-count", 0, 1, ShardSelection.MaxCount);
        if (command["shard-count"] is null || (command["config"] is null) == (command["input"] is null))
        {
            throw new UsageException("shards needs --shard-count and one of --config or --input <folder>");
        }

        IReadOnlyList<string> keys;
        if (command["input"] is { } folder)
        {
            if (!Directory.Exists(folder))
            {
                throw new UsageException($"--input {folder} is not a folder");
            }

            string noOutput = Path.Combine(Path.GetTempPath(), $"streamdeblur-shards-{Guid.NewGuid():N}");
            keys = [.. FolderJob.ListInputs(folder, command.Has("recursive"), noOutput).Select(path => Path.GetRelativePath(folder, path))];
        }
        else
        {
            StreamDeblurOptions options = ConfigLoader.Load(command["config"]);
            ConfigLoader.ThrowIfInvalid(options);
            keys = [.. options.Streams.Select(s => s.Id)];
        }

        ShardMap map = ShardMap.Assign(keys, count);
        foreach (string key in keys.Order(StringComparer.Ordinal))
        {
            Console.WriteLine($"{map.ShardOf(key)}\t{key}");
        }

        int[] loads = [.. Enumerable.Range(0, count).Select(s => map.KeysOf(s).Count)];
        Console.Error.WriteLine($"{keys.Count} over {count} shards: {loads.Min()} to {loads.Max()} each");
        return 0;
    }
}
