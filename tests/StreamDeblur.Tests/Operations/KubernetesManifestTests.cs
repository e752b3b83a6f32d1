using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using StreamDeblur.App;
using Xunit;

namespace StreamDeblur.Tests.Operations;

/// <summary>
/// deploy/kubernetes, checked without a cluster (none is available here). Every overlay is rendered by the real
/// <c>kubectl kustomize</c>, every object is validated against the Kubernetes OpenAPI schemas and the Prometheus
/// Operator CRD offline (tests/k8s-validate: kubernetes-models, plus unknown fields), and what the manifests say
/// is checked against the worker itself: its command line parser, its config loader, and a real worker started
/// with the manifest's arguments, environment and config, whose probe and metrics paths must answer.
/// </summary>
public sealed partial class KubernetesManifestTests
{
    public static TheoryData<string> Overlays => new() { "cpu", "gpu", "footage-cpu", "footage-gpu" };

    public static TheoryData<string> LiveOverlays => new() { "cpu", "gpu" };

    private static string Deploy => Path.Combine(TestPaths.RepoRoot, "deploy", "kubernetes");

    [Theory]
    [MemberData(nameof(Overlays))]
    public void EveryOverlayRendersAndPassesTheSchemas(string overlay)
    {
        JsonElement[] objects = Render(overlay);
        string[] kinds = [.. objects.Select(o => o.GetProperty("kind").GetString()!).Order()];
        string[] expected = overlay.StartsWith("footage", StringComparison.Ordinal)
            ? ["ConfigMap", "Job"]
            : ["ConfigMap", "PodDisruptionBudget", "PodMonitor", "Service", "StatefulSet"];
        Assert.Equal(expected, kinds);
    }

    [Theory]
    [InlineData("containerPort: 9464", "containerPort: \"9464\"", "ports.0.containerPort: type")]
    [InlineData("livenessProbe:", "livenessProbes:", "containers.0.livenessProbes: unknown field")]
    [InlineData("  serviceName: streamdeblur", "  serviceNme: streamdeblur", "spec.serviceNme: unknown field")]
    [InlineData("kind: PodDisruptionBudget", "kind: PodDisruptionBudgett", "no schema for apiVersion policy/v1, kind PodDisruptionBudgett")]
    [InlineData("interval: 15s", "interval: 15 seconds", "podMetricsEndpoints.0.interval: pattern")]
    [InlineData("  maxUnavailable: 1", "  maxUnavailable: [1]", "spec.maxUnavailable")]
    public void TheValidatorRejectsABrokenObject(string good, string broken, string expected)
    {
        string yaml = Kustomize("overlays/cpu");
        Assert.Contains(good, yaml);
        (int exit, _, string errors) = Validate(yaml.Replace(good, broken, StringComparison.Ordinal));
        Assert.Equal(1, exit);
        Assert.Contains(expected, errors);
    }

    [Theory]
    [MemberData(nameof(LiveOverlays))]
    public void TheStatefulSetAgreesWithTheWorkersOwnOptions(string overlay)
    {
        JsonElement[] objects = Render(overlay);
        JsonElement set = Single(objects, "StatefulSet");
        JsonElement pod = set.GetProperty("spec").GetProperty("template");
        JsonElement container = pod.GetProperty("spec").GetProperty("containers")[0];
        CommandLine args = WorkerArgs(container);
        int port = args.GetInt("port", 0, 1, 65535);

        // --shard-count is the number of replicas, or a replica gets an index the worker refuses.
        Assert.Equal(set.GetProperty("spec").GetProperty("replicas").GetInt32(), args.GetInt("shard-count", 0, 1, 10_000));
        Assert.Equal("metadata.labels['apps.kubernetes.io/pod-index']", EnvFieldPath(container, "STREAMDEBLUR_SHARD_INDEX"));

        // Probes and scrapes reach the worker's --port (the running worker answers them: TheWorkerAnswersTheManifestsProbes).
        Assert.Equal(port, NamedPort(container, "http"));
        foreach (string probe in new[] { "livenessProbe", "readinessProbe", "startupProbe" })
        {
            Assert.Equal("http", container.GetProperty(probe).GetProperty("httpGet").GetProperty("port").GetString());
        }

        JsonElement annotations = pod.GetProperty("metadata").GetProperty("annotations");
        Assert.Equal("true", annotations.GetProperty("prometheus.io/scrape").GetString());
        Assert.Equal(port.ToString(), annotations.GetProperty("prometheus.io/port").GetString());
        JsonElement endpoint = Single(objects, "PodMonitor").GetProperty("spec").GetProperty("podMetricsEndpoints")[0];
        Assert.Equal("http", endpoint.GetProperty("port").GetString());
        Assert.Equal(annotations.GetProperty("prometheus.io/path").GetString(), endpoint.GetProperty("path").GetString());
        Assert.Equal("http", Single(objects, "Service").GetProperty("spec").GetProperty("ports")[0].GetProperty("targetPort").GetString());
        Assert.Equal("0.0.0.0", EnvValue(container, "STREAMDEBLUR_HTTP_HOST")); // the default, loopback, is unreachable for a probe

        // The selectors of the PodMonitor, the Service and the PodDisruptionBudget pick these pods.
        JsonElement labels = pod.GetProperty("metadata").GetProperty("labels");
        AssertSelects(Single(objects, "PodMonitor").GetProperty("spec").GetProperty("selector").GetProperty("matchLabels"), labels);
        AssertSelects(Single(objects, "PodDisruptionBudget").GetProperty("spec").GetProperty("selector").GetProperty("matchLabels"), labels);
        AssertSelects(Single(objects, "Service").GetProperty("spec").GetProperty("selector"), labels);
        Assert.Equal(1, Single(objects, "PodDisruptionBudget").GetProperty("spec").GetProperty("maxUnavailable").GetInt32());

        StreamDeblurOptions config = AssertConfigMounted(objects, pod, container, args);
        Assert.All(config.Streams, s => Assert.Contains("{start}", s.Output)); // a restarted pod writes new files
        AssertWritesOnlyToVolumes(pod, container, config.Streams.Select(s => s.Output!));
        AssertResources(overlay, container, config);
    }

    [Theory]
    [InlineData("footage-cpu")]
    [InlineData("footage-gpu")]
    public void TheIndexedJobAgreesWithTheWorkersOwnOptions(string overlay)
    {
        JsonElement[] objects = Render(overlay);
        JsonElement job = Single(objects, "Job");
        JsonElement spec = job.GetProperty("spec");
        JsonElement pod = spec.GetProperty("template");
        JsonElement container = pod.GetProperty("spec").GetProperty("containers")[0];
        CommandLine args = WorkerArgs(container);

        Assert.Equal("Indexed", spec.GetProperty("completionMode").GetString());
        Assert.Equal(spec.GetProperty("completions").GetInt32(), args.GetInt("shard-count", 0, 1, 10_000));
        Assert.Equal("metadata.annotations['batch.kubernetes.io/job-completion-index']", EnvFieldPath(container, "STREAMDEBLUR_SHARD_INDEX"));
        Assert.True(args.Has("recursive"));
        Assert.Equal(args.GetInt("port", 0, 1, 65535), NamedPort(container, "http"));

        // The recordings are mounted read-only; the outputs go to a writable mount.
        Assert.True(Mount(container, args["input"]!).GetProperty("readOnly").GetBoolean(), "the recordings must be mounted read-only");
        StreamDeblurOptions config = AssertConfigMounted(objects, pod, container, args);
        AssertWritesOnlyToVolumes(pod, container, [Path.Combine(args["output"]!, "any", "clip.mkv")]);
        AssertResources(overlay, container, config);
    }

    [Fact]
    public async Task TheWorkerAnswersTheManifestsProbesOnItsPort()
    {
        JsonElement[] objects = Render("cpu");
        JsonElement set = Single(objects, "StatefulSet");
        JsonElement container = set.GetProperty("spec").GetProperty("template").GetProperty("spec").GetProperty("containers")[0];
        string dir = TestPaths.TempDir("k8s-live");

        // The config as mounted, with every camera moved to a closed loopback port (nothing leaves this machine).
        JsonObject config = JsonNode.Parse(ConfigMapData(objects).Single().Value)!.AsObject();
        foreach (JsonNode? stream in config["streams"]!.AsArray())
        {
            stream!["input"] = $"rtsp://127.0.0.1:9/{stream["id"]}";
            stream["output"] = Path.Combine(dir, Path.GetFileName(stream["output"]!.GetValue<string>()));
        }

        string configPath = Path.Combine(dir, "streamdeblur.json");
        await File.WriteAllTextAsync(configPath, config.ToJsonString());
        int port = TestPaths.FreePort();
        string[] args = Substitute(container, new() { ["--config"] = configPath, ["--port"] = port.ToString() });
        using CliProcess worker = CliProcess.Start(PodEnvironment(container, $"{set.GetProperty("metadata").GetProperty("name").GetString()}-0", index: 0), args);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };

        string readiness = ProbePath(container, "readinessProbe");
        Assert.True(
            await worker.WaitUntilAsync(async () => (await client.GetAsync(readiness)).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(60)),
            $"{readiness} never answered 200 on the manifest's port: {worker.StdErr}");
        foreach (string probe in new[] { "livenessProbe", "startupProbe" })
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(ProbePath(container, probe))).StatusCode);
        }

        string metrics = await client.GetStringAsync(Single(objects, "PodMonitor").GetProperty("spec").GetProperty("podMetricsEndpoints")[0].GetProperty("path").GetString());
        Assert.Contains($"streamdeblur_shard_info{{shard=\"0\",shard_count=\"{set.GetProperty("spec").GetProperty("replicas").GetInt32()}\"}} 1", metrics);

        // SIGTERM, as the kubelet sends it, ends the worker well inside terminationGracePeriodSeconds.
        var clock = Stopwatch.StartNew();
        worker.Signal(CliProcess.SigTerm);
        int grace = set.GetProperty("spec").GetProperty("template").GetProperty("spec").GetProperty("terminationGracePeriodSeconds").GetInt32();
        await worker.WaitForExitAsync(TimeSpan.FromSeconds(grace));
        Assert.True(clock.Elapsed.TotalSeconds < grace, $"the worker took {clock.Elapsed.TotalSeconds:F1} s to stop");
    }

    [Fact]
    public async Task EveryIndexOfTheJobCleansItsShareOnceAndARerunResumes()
    {
        JsonElement[] objects = Render("footage-cpu");
        JsonElement spec = Single(objects, "Job").GetProperty("spec");
        JsonElement container = spec.GetProperty("template").GetProperty("spec").GetProperty("containers")[0];
        int completions = spec.GetProperty("completions").GetInt32();
        string dir = TestPaths.TempDir("k8s-footage");
        string input = Path.Combine(dir, "in"), output = Path.Combine(dir, "out");
        string[] recordings = ["gate_0900.mp4", "day2/gate_0900.mp4", "day2/yard_1700.mp4", "day3/lobby_0800.mp4", "day3/night/yard_0100.mp4"];
        foreach (string recording in recordings)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(input, recording))!);
            File.Copy(OpsClips.ShortSample, Path.Combine(input, recording));
        }

        string configPath = Path.Combine(dir, "streamdeblur.json");
        await File.WriteAllTextAsync(configPath, ConfigMapData(objects).Single().Value);

        // Each completion index as the Job controller starts it (in turn here; in parallel on a cluster).
        async Task<string[]> RunIndexAsync(int index)
        {
            string[] args = Substitute(container, new()
            {
                ["--input"] = input, ["--output"] = output, ["--config"] = configPath, ["--port"] = TestPaths.FreePort().ToString(),
            });
            using CliProcess worker = CliProcess.Start(PodEnvironment(container, $"streamdeblur-footage-{index}-x7k2q", index), args);
            int exit = await worker.WaitForExitAsync(TimeSpan.FromSeconds(120));
            Assert.True(exit == 0, $"index {index} exited {exit}: {worker.StdErr}");
            return worker.StdOut.Split('\n');
        }

        var done = new List<string>();
        for (int index = 0; index < completions; index++)
        {
            done.AddRange((await RunIndexAsync(index)).Where(line => line.Contains(" done -> ", StringComparison.Ordinal)).Select(line => line.Split(' ')[0]));
        }

        Assert.Equal(recordings.Order(), done.Order()); // every recording cleaned, by exactly one index
        Assert.All(recordings, r => Assert.Equal(40, FfProbe.Probe(Path.Combine(output, r)).Frames));

        // The Job run again (or an index retried): every file is found done and nothing is processed twice.
        var skipped = new List<string>();
        for (int index = 0; index < completions; index++)
        {
            string[] lines = await RunIndexAsync(index);
            Assert.DoesNotContain(lines, line => line.Contains(" done -> ", StringComparison.Ordinal));
            skipped.AddRange(lines.Where(line => line.Contains("skipped: done by an earlier run", StringComparison.Ordinal)).Select(line => line.Split(' ')[0]));
        }

        Assert.Equal(recordings.Order(), skipped.Order());
    }

    [Fact]
    public async Task ARestartedWorkerWritesNewFilesAndKeepsTheOnesBefore()
    {
        // The StatefulSet's outputs are out/<camera>-{start}.mkv: a pod that restarts on its volume must neither
        // refuse to start (the output exists) nor replace the recording it wrote before.
        string dir = TestPaths.TempDir("k8s-restart");
        string output = Path.Combine(dir, "gate-{start}.mkv");
        for (int run = 0; run < 2; run++)
        {
            CliRunner.Result result = await CliRunner.RunAsync(TimeSpan.FromSeconds(120), "run", "--input", OpsClips.ShortSample, "--output", output, "--progress", "off");
            Assert.True(result.ExitCode == 0, result.StdErr);
            await Task.Delay(TimeSpan.FromSeconds(1.1)); // the name has whole seconds
        }

        string[] files = Directory.GetFiles(dir, "gate-*.mkv");
        Assert.Equal(2, files.Length);
        Assert.All(files, f => Assert.Matches(@"gate-\d{8}T\d{6}Z\.mkv$", f));
        Assert.All(files, f => Assert.Equal(40, FfProbe.Probe(f).Frames));
    }

    /// <summary>The config volume is the rendered ConfigMap, mounted where --config reads it, and the worker accepts its JSON.</summary>
    private static StreamDeblurOptions AssertConfigMounted(JsonElement[] objects, JsonElement pod, JsonElement container, CommandLine args)
    {
        JsonElement configMap = Single(objects, "ConfigMap");
        KeyValuePair<string, string> file = ConfigMapData(objects).Single();
        JsonElement volume = pod.GetProperty("spec").GetProperty("volumes").EnumerateArray().Single(v => v.TryGetProperty("configMap", out _));
        Assert.Equal(configMap.GetProperty("metadata").GetProperty("name").GetString(), volume.GetProperty("configMap").GetProperty("name").GetString());
        JsonElement mount = container.GetProperty("volumeMounts").EnumerateArray().Single(m => m.GetProperty("name").GetString() == volume.GetProperty("name").GetString());
        Assert.Equal(args["config"], $"{mount.GetProperty("mountPath").GetString()}/{file.Key}");
        Assert.True(mount.GetProperty("readOnly").GetBoolean());

        StreamDeblurOptions options = ConfigLoader.Parse(file.Value, file.Key);
        if (options.Streams.Count > 0)
        {
            Assert.Empty(options.Validate());
        }

        // The model the config names is in the image (the Dockerfile copies models/ to /app/models).
        Assert.True(File.Exists(Path.Combine(TestPaths.RepoRoot, options.Model.Metadata)), $"{options.Model.Metadata} is not in models/");
        Assert.StartsWith("/app/models/", $"{container.GetProperty("workingDir").GetString()}/{options.Model.Metadata}");

        // SIGTERM drains the queues for drain_timeout_seconds; the kubelet must wait longer before its SIGKILL.
        int grace = pod.GetProperty("spec").GetProperty("terminationGracePeriodSeconds").GetInt32();
        Assert.True(grace >= options.Pipeline.DrainTimeoutSeconds + 10, $"terminationGracePeriodSeconds {grace} is not above the drain deadline ({options.Pipeline.DrainTimeoutSeconds} s) with a margin");
        return options;
    }

    /// <summary>Non-root with a read-only root file system: every path the worker writes is on a writable volume, /tmp too.</summary>
    private static void AssertWritesOnlyToVolumes(JsonElement pod, JsonElement container, IEnumerable<string> outputs)
    {
        JsonElement security = pod.GetProperty("spec").GetProperty("securityContext");
        Assert.True(security.GetProperty("runAsNonRoot").GetBoolean());
        string dockerfile = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "Dockerfile"));
        Assert.Equal(DockerfileUid().Match(dockerfile).Groups[1].Value, security.GetProperty("runAsUser").GetInt32().ToString());
        Assert.True(container.GetProperty("securityContext").GetProperty("readOnlyRootFilesystem").GetBoolean());
        Assert.False(container.GetProperty("securityContext").GetProperty("allowPrivilegeEscalation").GetBoolean());

        string workingDir = container.GetProperty("workingDir").GetString()!;
        foreach (string output in outputs.Append("/tmp/dotnet-diagnostics"))
        {
            string path = Path.GetFullPath(output.Replace("{start}", "20261201T000000Z", StringComparison.Ordinal), workingDir);
            JsonElement mount = Mount(container, path);
            Assert.False(mount.TryGetProperty("readOnly", out JsonElement readOnly) && readOnly.GetBoolean(), $"{path} is on the read-only mount {mount.GetProperty("mountPath")}");
        }
    }

    private static void AssertResources(string overlay, JsonElement container, StreamDeblurOptions config)
    {
        JsonElement resources = container.GetProperty("resources");
        foreach (string side in new[] { "requests", "limits" })
        {
            Assert.True(resources.GetProperty(side).TryGetProperty("cpu", out _), $"no cpu {side}");
            Assert.True(resources.GetProperty(side).TryGetProperty("memory", out _), $"no memory {side}");
        }

        bool gpu = overlay.EndsWith("gpu", StringComparison.Ordinal);
        Assert.Equal(gpu, resources.GetProperty("limits").TryGetProperty("nvidia.com/gpu", out _));
        Assert.Equal(gpu ? "cuda" : "cpu", config.Model.ExecutionProvider);
        Assert.EndsWith(gpu ? ":gpu" : ":cpu", container.GetProperty("image").GetString());
    }

    private static void AssertSelects(JsonElement selector, JsonElement labels)
    {
        foreach (JsonProperty label in selector.EnumerateObject())
        {
            Assert.True(labels.TryGetProperty(label.Name, out JsonElement value) && value.GetString() == label.Value.GetString(), $"the pods lack the label {label.Name}={label.Value}");
        }
    }

    /// <summary>The volume mount that holds <paramref name="path"/> (the longest mount path that is a prefix of it).</summary>
    private static JsonElement Mount(JsonElement container, string path) =>
        container.GetProperty("volumeMounts").EnumerateArray()
            .Where(m => path == m.GetProperty("mountPath").GetString() || path.StartsWith(m.GetProperty("mountPath").GetString() + "/", StringComparison.Ordinal))
            .OrderByDescending(m => m.GetProperty("mountPath").GetString()!.Length)
            .FirstOrDefault() is { ValueKind: JsonValueKind.Object } mount
            ? mount
            : throw new Xunit.Sdk.XunitException($"{path} is on no volume: the root file system is read-only");

    /// <summary>The container's arguments, read by the worker's own parser.</summary>
    private static CommandLine WorkerArgs(JsonElement container)
    {
        CommandLine args = CommandLine.Parse([.. container.GetProperty("args").EnumerateArray().Select(a => a.GetString()!)]);
        Assert.Equal("run", args.Verb);
        return args;
    }

    /// <summary>The container's arguments with some option values replaced (paths and ports of this machine).</summary>
    private static string[] Substitute(JsonElement container, Dictionary<string, string> values)
    {
        string[] args = [.. container.GetProperty("args").EnumerateArray().Select(a => a.GetString()!)];
        foreach ((string option, string value) in values)
        {
            int at = Array.IndexOf(args, option);
            Assert.True(at >= 0, $"the container runs without {option}");
            args[at + 1] = value;
        }

        return args;
    }

    /// <summary>The environment the kubelet gives the container: its literal values, the downward API's index, the pod's host name.</summary>
    private static Dictionary<string, string> PodEnvironment(JsonElement container, string podName, int index)
    {
        var environment = new Dictionary<string, string> { ["HOSTNAME"] = podName };
        foreach (JsonElement variable in container.GetProperty("env").EnumerateArray())
        {
            string name = variable.GetProperty("name").GetString()!;
            environment[name] = variable.TryGetProperty("value", out JsonElement value) ? value.GetString()!
                : variable.GetProperty("valueFrom").GetProperty("fieldRef").GetProperty("fieldPath").GetString() is { } field
                  && (field.Contains("pod-index", StringComparison.Ordinal) || field.Contains("job-completion-index", StringComparison.Ordinal))
                    ? index.ToString()
                    : throw new Xunit.Sdk.XunitException($"{name} comes from a field this test does not stand in for");
        }

        return environment;
    }

    private static string? EnvValue(JsonElement container, string name) =>
        container.GetProperty("env").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name).GetProperty("value").GetString();

    private static string? EnvFieldPath(JsonElement container, string name) =>
        container.GetProperty("env").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name)
            .GetProperty("valueFrom").GetProperty("fieldRef").GetProperty("fieldPath").GetString();

    private static int NamedPort(JsonElement container, string name) =>
        container.GetProperty("ports").EnumerateArray().Single(p => p.GetProperty("name").GetString() == name).GetProperty("containerPort").GetInt32();

    private static string ProbePath(JsonElement container, string probe) =>
        container.GetProperty(probe).GetProperty("httpGet").GetProperty("path").GetString()!;

    private static IEnumerable<KeyValuePair<string, string>> ConfigMapData(JsonElement[] objects) =>
        Single(objects, "ConfigMap").GetProperty("data").EnumerateObject().Select(p => KeyValuePair.Create(p.Name, p.Value.GetString()!));

    private static JsonElement Single(JsonElement[] objects, string kind) => objects.Single(o => o.GetProperty("kind").GetString() == kind);

    /// <summary>The overlay rendered by kubectl kustomize and validated; the objects as JSON.</summary>
    private static JsonElement[] Render(string overlay)
    {
        (int exit, string json, string errors) = Validate(Kustomize(Path.Combine("overlays", overlay)));
        Assert.True(exit == 0, $"overlays/{overlay} fails validation:\n{errors}");
        return [.. JsonDocument.Parse(json).RootElement.EnumerateArray().Select(o => o.Clone())];
    }

    private static string Kustomize(string folder)
    {
        (int exit, string yaml, string errors) = Run("kubectl", ["kustomize", Path.Combine(Deploy, folder)], stdin: null);
        Assert.True(exit == 0, $"kubectl kustomize {folder} failed: {errors}");
        return yaml;
    }

    private static (int Exit, string StdOut, string StdErr) Validate(string yaml) =>
        Run("node", [Path.Combine(TestPaths.RepoRoot, "tests", "k8s-validate", "validate.mjs")], yaml);

    private static (int Exit, string StdOut, string StdErr) Run(string program, string[] args, string? stdin)
    {
        var psi = new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null };
        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new Xunit.Sdk.XunitException($"{program} is not installed: kubectl 1.32 (with kustomize) and Node.js are on the project's machine image; ./scripts/setup.sh installs the validator's packages");
        }

        using (process)
        {
            if (stdin is not null)
            {
                process.StandardInput.Write(stdin);
                process.StandardInput.Close();
            }

            Task<string> output = process.StandardOutput.ReadToEndAsync();
            string errors = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output.Result, errors);
        }
    }

    [GeneratedRegex(@"(?m)^ARG UID=(\d+)$")]
    private static partial Regex DockerfileUid();
}
