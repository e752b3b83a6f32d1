using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;

namespace StreamDeblur.Tests.Operations;

/// <summary>The shipped Prometheus scrape config and Grafana dashboard, checked with the real promtool and a real Prometheus.</summary>
public sealed class PrometheusConfigTests
{
    private static string PrometheusYml => Path.Combine(TestPaths.RepoRoot, "config", "prometheus.yml");

    [Fact]
    public void TheShippedScrapeConfigPassesPromtool()
    {
        (int code, string output) = Ops.RunTool(Ops.Promtool, null, "check", "config", PrometheusYml);
        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS", output);
    }

    /// <summary>
    /// A real Prometheus server on loopback, with the shipped config pointed at a running worker, scrapes it:
    /// the target is up and the queried counters equal what the worker did.
    /// </summary>
    [Fact]
    public async Task ARealPrometheusScrapesARunningWorker()
    {
        string dir = TestPaths.TempDir("ops-prometheus");
        int workerPort = TestPaths.FreePort();
        int prometheusPort = TestPaths.FreePort();
        string goodOutput = Path.Combine(dir, "good.mkv");

        // A good file (ends quickly) beside an unreachable camera (keeps the worker running until SIGTERM).
        string config = Path.Combine(dir, "streamdeblur.json");
        File.WriteAllText(config, $$"""
            { "streams": [
                { "id": "good", "input": {{JsonSerializer.Serialize(OpsClips.Good)}}, "output": {{JsonSerializer.Serialize(goodOutput)}} },
                { "id": "camera", "input": "rtsp://127.0.0.1:9/none", "output": {{JsonSerializer.Serialize(Path.Combine(dir, "camera.mkv"))}} } ],
              "model": { "metadata": {{JsonSerializer.Serialize(TestPaths.ModelMetadata)}} },
              "http": { "port": {{workerPort}} } }
            """);

        // The shipped scrape config, with only the target and the intervals changed for a short test.
        string shipped = File.ReadAllText(PrometheusYml);
        Assert.Contains("\"127.0.0.1:9464\"", shipped);
        string yml = Path.Combine(dir, "prometheus.yml");
        File.WriteAllText(yml, shipped
            .Replace("\"127.0.0.1:9464\"", $"\"127.0.0.1:{workerPort}\"", StringComparison.Ordinal)
            .Replace("scrape_interval: 5s", "scrape_interval: 1s", StringComparison.Ordinal)
            .Replace("scrape_timeout: 4s", "scrape_timeout: 1s", StringComparison.Ordinal));

        using CliProcess worker = CliProcess.Start("run", "--config", config);
        using Process prometheus = StartPrometheus(yml, Path.Combine(dir, "tsdb"), prometheusPort);
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{prometheusPort}/"), Timeout = TimeSpan.FromSeconds(5) };
            int goodFrames = FfProbe.Probe(OpsClips.Good).Frames;
            double? up = null, read = null, written = null;
            bool scraped = await worker.WaitUntilAsync(async () =>
            {
                up = await QueryAsync(client, "up{job=\"streamdeblur\",service=\"streamdeblur\"}");
                read = await QueryAsync(client, "streamdeblur_frames_read_total{stream=\"good\"}");
                written = await QueryAsync(client, "streamdeblur_frames_written_total{stream=\"good\"}");
                return up == 1 && written == goodFrames;
            }, TimeSpan.FromSeconds(60));

            Assert.True(scraped, $"Prometheus saw up={up}, written={written} (expected {goodFrames})\nworker: {worker.StdErr}");
            Assert.Equal(goodFrames, read);
            // One series per loaded model: the single-frame model and, fixed-camera mode being on by default, the two-frame one.
            Assert.Equal(1, await QueryAsync(client, "count(streamdeblur_inference_info{model=\"deblur-fast\"})"));
            Assert.Equal(1, await QueryAsync(client, "count(streamdeblur_inference_info{model=\"deblur-fixed\"})"));
            Assert.Equal(2, await QueryAsync(client, "count(streamdeblur_inference_info)"));
            Assert.Equal(0, await QueryAsync(client, "streamdeblur_stream_up{stream=\"camera\"}"));

            // Every dashboard query is valid PromQL to this Prometheus, and names only metrics the worker exports.
            string exported = await client.GetStringAsync($"http://127.0.0.1:{workerPort}/metrics");
            foreach (string expr in DashboardQueries())
            {
                string promql = expr.Replace("$__rate_interval", "1m", StringComparison.Ordinal).Replace("$stream", ".*", StringComparison.Ordinal);
                using HttpResponseMessage response = await client.GetAsync("api/v1/query?query=" + Uri.EscapeDataString(promql));
                Assert.True(response.IsSuccessStatusCode, $"Prometheus rejects the dashboard query {promql}: {await response.Content.ReadAsStringAsync()}");
                foreach (Match metric in Regex.Matches(expr, "streamdeblur_[a-z_]+"))
                {
                    Assert.True(exported.Contains("\n" + metric.Value, StringComparison.Ordinal), $"the dashboard uses {metric.Value}, which the worker does not export");
                }
            }
        }
        finally
        {
            if (!worker.HasExited)
            {
                worker.Signal(CliProcess.SigTerm);
            }

            prometheus.Kill();
            prometheus.WaitForExit();
        }

        Assert.InRange(await worker.WaitForExitAsync(TimeSpan.FromSeconds(60)), 0, 1);
    }

    [Fact]
    public void TheDashboardIsPerStreamAndCoversTheOperationalSignals()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "config", "grafana-dashboard.json")));
        JsonElement stream = doc.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray().Single(v => v.GetProperty("name").GetString() == "stream");
        Assert.Contains("label_values(streamdeblur_frames_read_total, stream)", stream.GetProperty("definition").GetString());
        Assert.True(stream.GetProperty("multi").GetBoolean() && stream.GetProperty("includeAll").GetBoolean());

        var queries = DashboardQueries().ToList();
        Assert.Contains(queries, q => q.Contains("rate(streamdeblur_frames_read_total{stream=~\"$stream\"}", StringComparison.Ordinal));    // fps in
        Assert.Contains(queries, q => q.Contains("rate(streamdeblur_frames_written_total{stream=~\"$stream\"}", StringComparison.Ordinal)); // fps out
        Assert.Contains(queries, q => q.Contains("streamdeblur_frames_deblurred_total", StringComparison.Ordinal) && q.Contains(" / ", StringComparison.Ordinal)); // ratio
        Assert.Contains(queries, q => q.StartsWith("histogram_quantile(0.95", StringComparison.Ordinal) && q.Contains("streamdeblur_frame_latency_seconds_bucket", StringComparison.Ordinal));
        Assert.Contains(queries, q => q.Contains("streamdeblur_frames_dropped_total", StringComparison.Ordinal));
        Assert.Contains(queries, q => q.Contains("streamdeblur_reconnects_total", StringComparison.Ordinal));
        Assert.All(queries.Where(q => q.Contains("{stream", StringComparison.Ordinal)), q => Assert.Contains("$stream", q));
    }

    private static IEnumerable<string> DashboardQueries()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "config", "grafana-dashboard.json")));
        return doc.RootElement.GetProperty("panels").EnumerateArray()
            .Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray())
            .Select(t => t.GetProperty("expr").GetString()!)
            .ToList();
    }

    private static Process StartPrometheus(string configFile, string storage, int port)
    {
        var psi = new ProcessStartInfo("/usr/bin/prometheus") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in (string[])[$"--config.file={configFile}", $"--storage.tsdb.path={storage}", $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"])
        {
            psi.ArgumentList.Add(arg);
        }

        Process process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>The value of an instant query with one result, or null while there is none.</summary>
    private static async Task<double?> QueryAsync(HttpClient client, string query)
    {
        using HttpResponseMessage response = await client.GetAsync("api/v1/query?query=" + Uri.EscapeDataString(query));
        if (!response.IsSuccessStatusCode)
        {
            return null;
        }

        using JsonDocument doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        JsonElement result = doc.RootElement.GetProperty("data").GetProperty("result");
        return result.GetArrayLength() == 1
            ? double.Parse(result[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture)
            : null;
    }
}
