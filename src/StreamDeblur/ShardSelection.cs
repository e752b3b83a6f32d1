using System.Globalization;
using System.Text.RegularExpressions;

namespace StreamDeblur.App;

/// <summary>
/// This replica's place among <c>--shard-count</c> replicas that read the same config or folder: it takes only the
/// streams (or files) that <see cref="ShardMap"/> gives its index. The index comes from, in this order:
/// <c>--shard-index</c>, <c>STREAMDEBLUR_SHARD_INDEX</c>, <c>JOB_COMPLETION_INDEX</c> (a Kubernetes Indexed Job)
/// or the ordinal that ends the host name (<c>streamdeblur-3</c>: a StatefulSet pod). The count comes from
/// <c>--shard-count</c> or <c>STREAMDEBLUR_SHARD_COUNT</c>; without a count there is no sharding.
/// </summary>
public sealed partial record ShardSelection(int Index, int Count, string IndexSource)
{
    public const int MaxCount = 10_000;

    /// <summary>The selection the command line and environment ask for, or null when they ask for none. Throws <see cref="ConfigException"/> with one line.</summary>
    public static ShardSelection? Resolve(CommandLine command, Func<string, string?> environment)
    {
        (string? countText, string countSource) = First(("--shard-count", command["shard-count"]), ("STREAMDEBLUR_SHARD_COUNT", environment("STREAMDEBLUR_SHARD_COUNT")));
        (string? indexText, string indexSource) = First(("--shard-index", command["shard-index"]), ("STREAMDEBLUR_SHARD_INDEX", environment("STREAMDEBLUR_SHARD_INDEX")));
        if (countText is null)
        {
            return indexText is null ? null : throw new ConfigException($"shard: {indexSource} {indexText} needs --shard-count (or STREAMDEBLUR_SHARD_COUNT), the number of replicas");
        }

        int count = Parse(countText, countSource, "the number of replicas", 1, MaxCount);
        if (indexText is null)
        {
            (indexText, indexSource) = First(("JOB_COMPLETION_INDEX", environment("JOB_COMPLETION_INDEX")), ("HOSTNAME", OrdinalOf(environment("HOSTNAME"))));
            if (indexText is null)
            {
                throw new ConfigException(
                    $"shard: {countSource} {count} needs this replica's index: pass --shard-index, set STREAMDEBLUR_SHARD_INDEX or JOB_COMPLETION_INDEX, " +
                    $"or run with a host name that ends in -<n> like a StatefulSet pod (HOSTNAME is '{environment("HOSTNAME")}')");
            }

            if (indexSource == "HOSTNAME")
            {
                indexSource = $"HOSTNAME {environment("HOSTNAME")}";
            }
        }

        int index = Parse(indexText, indexSource, "this replica's index", 0, int.MaxValue);
        if (index >= count)
        {
            throw new ConfigException(
                $"shard: index {index} (from {indexSource}) is outside 0..{count - 1} for {countSource} {count}: the replicas (StatefulSet replicas, Job completions) and the shard count must be the same");
        }

        return new ShardSelection(index, count, indexSource);
    }

    /// <summary>The items this shard holds, in their given order; <paramref name="key"/> names each (stream id, file path).</summary>
    public IReadOnlyList<T> Take<T>(IReadOnlyList<T> items, Func<T, string> key)
    {
        ShardMap map = ShardMap.Assign(items.Select(key), Count);
        return [.. items.Where(item => map.ShardOf(key(item)) == Index)];
    }

    public override string ToString() => $"shard {Index} of {Count} (index from {IndexSource})";

    private static (string? Value, string Source) First(params (string Source, string? Value)[] candidates)
    {
        foreach ((string source, string? value) in candidates)
        {
            if (!string.IsNullOrWhiteSpace(value))
            {
                return (value.Trim(), source);
            }
        }

        return (null, "");
    }

    private static string? OrdinalOf(string? hostName) =>
        hostName is not null && TrailingOrdinal().Match(hostName) is { Success: true } match ? match.Groups[1].Value : null;

    private static int Parse(string text, string source, string what, int min, int max)
    {
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max)
        {
            return value;
        }

        string range = max == int.MaxValue ? $"{min} or more" : $"in {min}..{max}";
        throw new ConfigException($"shard: {source} '{text}' is not {what} (a whole number {range})");
    }

    [GeneratedRegex(@"^[A-Za-z0-9.-]+-(\d+)$")]
    private static partial Regex TrailingOrdinal();
}
