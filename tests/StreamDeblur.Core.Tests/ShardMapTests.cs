using Xunit;

namespace StreamDeblur.Tests;

public sealed class ShardMapTests
{
    /// <summary>Three ways sites name 1,000 things: camera ids, ids with a site prefix, and recorded file names.</summary>
    public static TheoryData<string> KeySets => new() { "cam", "site", "file" };

    private static string[] Keys(string kind, int count = 1000) => kind switch
    {
        "cam" => [.. Enumerable.Range(0, count).Select(i => $"cam-{i:D4}")],
        "site" => [.. Enumerable.Range(0, count).Select(i => $"site{i / 40}_door{i % 40}")],
        _ => [.. Enumerable.Range(0, count).Select(i => $"2026-11-{1 + (i % 28):D2}/gate{i % 7}_{i:D5}.mkv")],
    };

    [Theory]
    [MemberData(nameof(KeySets))]
    public void TheMostAndLeastLoadedShardsDifferByAtMost15Percent(string kind)
    {
        string[] keys = Keys(kind);
        foreach (int shards in new[] { 2, 3, 4, 7, 8, 9, 16, 32 })
        {
            ShardMap map = ShardMap.Assign(keys, shards);
            int[] loads = [.. Enumerable.Range(0, shards).Select(s => map.KeysOf(s).Count)];
            double mean = keys.Length / (double)shards;
            Assert.True((loads.Max() - loads.Min()) / mean <= 0.15, $"{shards} shards: loads {string.Join(", ", loads)}");
        }
    }

    [Theory]
    [MemberData(nameof(KeySets))]
    public void GoingFrom8To9ShardsMovesAtMost15PercentAndMostlyToTheNewShard(string kind)
    {
        string[] keys = Keys(kind);
        ShardMap eight = ShardMap.Assign(keys, 8);
        ShardMap nine = ShardMap.Assign(keys, 9);
        string[] moved = [.. keys.Where(k => eight.ShardOf(k) != nine.ShardOf(k))];

        // The new shard must take about 1/9 of the keys whatever the scheme; bounded loads add a few cascades.
        Assert.InRange(moved.Length / (double)keys.Length, 1.0 / 9 - 0.01, 0.15);
        Assert.True(moved.Count(k => nine.ShardOf(k) == 8) >= 0.8 * moved.Length, $"{moved.Length} moved, {moved.Count(k => nine.ShardOf(k) == 8)} of them to the new shard");
    }

    [Theory]
    [MemberData(nameof(KeySets))]
    public void EveryKeyBelongsToExactlyOneShard(string kind)
    {
        string[] keys = Keys(kind);
        foreach (int shards in new[] { 1, 5, 8, 9, 64 })
        {
            ShardMap map = ShardMap.Assign(keys, shards);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (int shard = 0; shard < shards; shard++)
            {
                foreach (string key in map.KeysOf(shard))
                {
                    Assert.True(seen.Add(key), $"{key} is in two shards");
                    Assert.Equal(shard, map.ShardOf(key));
                }
            }

            Assert.Equal(keys.Length, seen.Count);
            Assert.True(seen.SetEquals(keys));
        }
    }

    [Fact]
    public void TheOrderInWhichKeysAreListedDoesNotMatter()
    {
        string[] keys = Keys("cam", 200);
        ShardMap listed = ShardMap.Assign(keys, 7);
        ShardMap shuffled = ShardMap.Assign(keys.OrderBy(_ => Random.Shared.Next()), 7);
        Assert.All(keys, k => Assert.Equal(listed.ShardOf(k), shuffled.ShardOf(k)));
    }

    [Fact]
    public void FewerKeysThanShardsLeavesSomeShardsEmptyAndNoneWithTwo()
    {
        ShardMap map = ShardMap.Assign(["door", "yard", "gate"], 5);
        int[] loads = [.. Enumerable.Range(0, 5).Select(s => map.KeysOf(s).Count)];
        Assert.Equal(3, loads.Sum());
        Assert.All(loads, load => Assert.InRange(load, 0, 1));
        Assert.Empty(ShardMap.Assign([], 3).KeysOf(2));

        string[] keys = Keys("cam", 300);
        ShardMap many = ShardMap.Assign(keys, 400);
        Assert.All(Enumerable.Range(0, 400), s => Assert.InRange(many.KeysOf(s).Count, 0, 1));
        Assert.Equal(300, Enumerable.Range(0, 400).Sum(s => many.KeysOf(s).Count));
    }

    [Fact]
    public void AddingOneStreamMovesFewOthers()
    {
        string[] keys = Keys("cam");
        ShardMap before = ShardMap.Assign(keys, 8);
        ShardMap after = ShardMap.Assign([.. keys, "cam-new"], 8);
        int moved = keys.Count(k => before.ShardOf(k) != after.ShardOf(k));
        Assert.True(moved <= 10, $"{moved} streams moved when one was added");
    }

    [Fact]
    public void ADuplicateKeyIsRefused()
    {
        var error = Assert.Throws<ArgumentException>(() => ShardMap.Assign(["a", "b", "a"], 2));
        Assert.Contains("'a' is listed more than once", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ShardMap.Assign(["a"], 0));
    }
}
