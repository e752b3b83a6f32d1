using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using StreamDeblur.App;
using Xunit;

namespace StreamDeblur.Tests.Operations;

/// <summary>
/// Replicas that read the same config each take their shard's streams (ShardMapTests test the split itself):
/// the index from the command line or the environment a StatefulSet or an Indexed Job gives, validated at start-up,
/// and reported on /readyz and /metrics, by real worker processes.
/// </summary>
public sealed partial class ShardingTests
{
    [Theory]
    [InlineData("--shard-index=2 --shard-count=4", "", 2, 4, "--shard-index")]
    [InlineData("", "STREAMDEBLUR_SHARD_INDEX=1 STREAMDEBLUR_SHARD_COUNT=3", 1, 3, "STREAMDEBLUR_SHARD_INDEX")]
    [InlineData("--shard-count=3", "JOB_COMPLETION_INDEX=2", 2, 3, "JOB_COMPLETION_INDEX")]
    [InlineData("--shard-count=8", "HOSTNAME=streamdeblur-7", 7, 8, "HOSTNAME streamdeblur-7")]
    [InlineData("--shard-count=2", "STREAMDEBLUR_SHARD_INDEX= HOSTNAME=streamdeblur-1", 1, 2, "HOSTNAME streamdeblur-1")] // an empty downward-API value falls through
    [InlineData("--shard-index=0 --shard-count=2", "HOSTNAME=streamdeblur-1", 0, 2, "--shard-index")] // the command line wins
    public void TheIndexComesFromTheCommandLineOrThePodsEnvironment(string args, string environment, int index, int count, string source)
    {
        ShardSelection? shard = ShardSelection.Resolve(Command(args), Environment(environment));
        Assert.Equal(new ShardSelection(index, count, source), shard);
    }

    [Fact]
    public void WithoutACountThereIsNoSharding() =>
        Assert.Null(ShardSelection.Resolve(Command(""), Environment("HOSTNAME=streamdeblur-3 JOB_COMPLETION_INDEX=1")));

    [Theory]
    [InlineData("--shard-index=4 --shard-count=4", "", "index 4 (from --shard-index) is outside 0..3 for --shard-count 4")]
    [InlineData("--shard-count=3", "HOSTNAME=streamdeblur-5", "index 5 (from HOSTNAME streamdeblur-5) is outside 0..2")]
    [InlineData("--shard-count=3", "HOSTNAME=worker", "needs this replica's index")]
    [InlineData("--shard-index=1", "", "needs --shard-count")]
    [InlineData("--shard-count=0", "", "--shard-count '0' is not the number of replicas")]
    [InlineData("", "STREAMDEBLUR_SHARD_COUNT=two", "STREAMDEBLUR_SHARD_COUNT 'two' is not the number of replicas")]
    [InlineData("--shard-count=2 --shard-index=-1", "", "--shard-index '-1' is not this replica's index")]
    public void AWrongShardIsRefusedWithOneLine(string args, string environment, string expected)
    {
        var error = Assert.Throws<ConfigException>(() => ShardSelection.Resolve(Command(args), Environment(environment)));
        Assert.Contains(expected, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public async Task AnotherProcessSplitsTheStreamsTheSameWay()
    {
        // string.GetHashCode is randomised per process: a split built on it would differ between two replicas.
        string[] ids = [.. Enumerable.Range(0, 1000).Select(i => $"cam-{i:D4}")];
        string config = WriteConfig(ids);
        CliRunner.Result result = await CliRunner.RunAsync(TimeSpan.FromSeconds(60), "shards", "--config", config, "--shard-count", "8");
        Assert.Equal(0, result.ExitCode);
        Dictionary<string, int> printed = result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t')).ToDictionary(f => f[1], f => int.Parse(f[0]));
        ShardMap map = ShardMap.Assign(ids, 8);
        Assert.Equal(ids.Length, printed.Count);
        Assert.All(ids, id => Assert.Equal(map.ShardOf(id), printed[id]));
        Assert.Contains("1000 over 8 shards: 125 to 125 each", result.StdErr);
    }

    [Fact]
    public async Task ThreeReplicasOfOneConfigHoldEachStreamOnceAndTheEmptyOneStaysReady()
    {
        // Two live streams on a closed loopback port (they reconnect for ever) over three replicas: one holds none.
        string config = WriteConfig(["door", "yard"]);
        var replicas = new List<(CliProcess Process, int Port)>();
        try
        {
            for (int ordinal = 0; ordinal < 3; ordinal++)
            {
                int port = TestPaths.FreePort();
                replicas.Add((CliProcess.Start(
                    new Dictionary<string, string> { ["HOSTNAME"] = $"streamdeblur-{ordinal}" },
                    "run", "--config", config, "--shard-count", "3", "--port", port.ToString()), port));
            }

            var held = new List<string>();
            foreach ((CliProcess process, int port) in replicas)
            {
                using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
                JsonElement body = default;
                Assert.True(
                    await process.WaitUntilAsync(async () =>
                    {
                        using HttpResponseMessage response = await client.GetAsync("/readyz");
                        body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

                        // Ready, and every stream it holds has reported its first state (its source is connecting).
                        return response.StatusCode == HttpStatusCode.OK
                            && body.GetProperty("streams").EnumerateObject().Count() == body.GetProperty("shard").GetProperty("streams").GetArrayLength();
                    }, TimeSpan.FromSeconds(60)),
                    $"replica on port {port} never became ready: {process.StdErr}");

                JsonElement shard = body.GetProperty("shard");
                Assert.Equal(replicas.FindIndex(r => r.Port == port), shard.GetProperty("index").GetInt32());
                Assert.Equal(3, shard.GetProperty("count").GetInt32());
                Assert.Equal(2, shard.GetProperty("configured").GetInt32());
                string[] mine = [.. shard.GetProperty("streams").EnumerateArray().Select(s => s.GetString()!)];
                held.AddRange(mine);

                // The streams it reports are the streams it runs, and its metrics carry only those.
                Assert.Equal(mine.Order(), body.GetProperty("streams").EnumerateObject().Select(p => p.Name).Order());
                string metrics = await client.GetStringAsync("/metrics");
                Assert.Equal(mine.Order(), StreamUpLabel().Matches(metrics).Select(m => m.Groups[1].Value).Order());
                Assert.Contains($"streamdeblur_shard_info{{shard=\"{shard.GetProperty("index").GetInt32()}\",shard_count=\"3\"}} 1", metrics);
                Assert.Contains($"streamdeblur_shard_streams{{shard=\"{shard.GetProperty("index").GetInt32()}\"}} {mine.Length}", metrics);
                if (mine.Length == 0)
                {
                    Assert.Contains("holds none of the 2 configured streams", shard.GetProperty("detail").GetString());
                }
            }

            Assert.Equal(["door", "yard"], held.Order());

            // Every replica stops on SIGTERM well inside the drain deadline; the idle one with exit code 0 (the
            // others report their streams, which never answered, as failed).
            Assert.Single(replicas, r => r.Process.StdErr.Contains("holds none", StringComparison.Ordinal));
            foreach ((CliProcess process, _) in replicas)
            {
                bool idle = process.StdErr.Contains("holds none", StringComparison.Ordinal);
                process.Signal(CliProcess.SigTerm);
                int exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(15));
                Assert.True(!idle || exit == 0, $"the idle replica exited with {exit}");
            }
        }
        finally
        {
            foreach ((CliProcess process, _) in replicas)
            {
                process.Dispose();
            }
        }
    }

    private static string WriteConfig(IEnumerable<string> ids)
    {
        string dir = TestPaths.TempDir("shards");
        string streams = string.Join(",\n", ids.Select(id => $$"""{ "id": "{{id}}", "input": "rtsp://127.0.0.1:9/{{id}}", "output": "{{Path.Combine(dir, id + ".mkv")}}", "reconnect": { "initial_delay_seconds": 0.5 } }"""));
        string path = Path.Combine(dir, "streams.json");
        File.WriteAllText(path, $$"""{ "streams": [ {{streams}} ] }""");
        return path;
    }

    private static CommandLine Command(string args) =>
        CommandLine.Parse(["run", "--config", "c.json", .. args.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);

    private static Func<string, string?> Environment(string assignments)
    {
        Dictionary<string, string> values = assignments.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(a => a.Split('=', 2)).ToDictionary(a => a[0], a => a[1]);
        return name => values.TryGetValue(name, out string? value) ? value : null;
    }

    [GeneratedRegex(@"(?m)^streamdeblur_stream_up\{stream=""([^""]+)""\}")]
    private static partial Regex StreamUpLabel();
}
