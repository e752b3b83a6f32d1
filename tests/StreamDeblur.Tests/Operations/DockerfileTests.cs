using System.Text.RegularExpressions;
using Xunit;

namespace StreamDeblur.Tests.Operations;

/// <summary>
/// There is no Docker engine on the build machines, so the Dockerfile cannot be built here. These checks read it
/// against the repository: every file it copies exists and survives .dockerignore, and both images keep the
/// operational contract (non-root, health check on the exposed port, volumes, the GPU build switch).
/// </summary>
public sealed partial class DockerfileTests
{
    private static readonly string s_dockerfile = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "Dockerfile"));

    [Fact]
    public void EveryCopiedPathExistsAndIsNotDockerIgnored()
    {
        var ignore = File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, ".dockerignore"))
            .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        var sources = CopyLine().Matches(s_dockerfile).SelectMany(m => m.Groups["args"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1]).ToList();
        Assert.NotEmpty(sources);
        foreach (string source in sources)
        {
            string path = Path.Combine(TestPaths.RepoRoot, source.TrimEnd('/'));
            Assert.True(File.Exists(path) || Directory.Exists(path), $"the Dockerfile copies {source}, which does not exist");
            Assert.False(IsIgnored(source.TrimEnd('/'), ignore), $"the Dockerfile copies {source}, which .dockerignore leaves out");
        }

        // The project it publishes, and the switch that picks the CUDA build of ONNX Runtime.
        Assert.Contains("dotnet publish src/StreamDeblur/StreamDeblur.csproj", s_dockerfile);
        string inference = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "src", "StreamDeblur.Inference", "StreamDeblur.Inference.csproj"));
        Assert.Contains("'$(OrtFlavor)' == 'gpu'", inference);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("gpu")]
    public void BothImagesRunAsNonRootWithAHealthCheckOnTheExposedPort(string target)
    {
        string stage = Stage(target);
        Assert.Matches(@"(?m)^USER streamdeblur$", stage);
        Assert.Matches(@"useradd --system --uid \$\{UID\}", stage);
        string port = Regex.Match(stage, @"(?m)^EXPOSE (\d+)$").Groups[1].Value;
        Assert.NotEmpty(port);
        Assert.Contains($"curl -fsS http://127.0.0.1:{port}/healthz", stage);
        Assert.Contains($"\"--port\", \"{port}\"", stage);
        Assert.Contains("VOLUME [\"/app/config\", \"/app/models\"", stage);
        // Ubuntu 24.04 (the CUDA 13 base) renamed libgtk-3-0 to libgtk-3-0t64 in its 64-bit time_t transition.
        foreach (string package in new[] { "libgtk-3-0", "ffmpeg", "curl", "tini" })
        {
            Assert.Matches($@"apt-get install[^\n]*\b{Regex.Escape(package)}(t64)?\b", stage);
        }

        Assert.Contains("STREAMDEBLUR_HTTP_HOST=0.0.0.0", stage); // reachable from outside the container
        Assert.Contains($"COPY --from=publish-{target} /out/ /app/bin/", stage);
    }

    [Fact]
    public void TheCpuImageIsDebian12AndTheDefaultTargetAndTheGpuImageIsCuda()
    {
        var stages = Regex.Matches(s_dockerfile, @"(?m)^FROM (\S+) AS (\S+)$").Select(m => (Image: m.Groups[1].Value, Name: m.Groups[2].Value)).ToList();
        Assert.Equal(("debian:12-slim", "cpu"), stages[^1]); // the last stage is what a plain `docker build .` makes
        Assert.Matches(@"^nvidia/cuda:[0-9.]+-cudnn-runtime-ubuntu24\.04$", stages.Single(s => s.Name == "gpu").Image); // CUDA major: GpuImageTests
        Assert.StartsWith("mcr.microsoft.com/dotnet/sdk:", stages.Single(s => s.Name == "build").Image);
        Assert.Contains("-p:OrtFlavor=gpu -o /out", Stage("publish-gpu"));
        Assert.Contains("-p:OrtFlavor=cpu -o /out", Stage("publish-cpu"));
    }

    private static string Stage(string name)
    {
        Match start = Regex.Match(s_dockerfile, $@"(?m)^FROM \S+ AS {Regex.Escape(name)}$");
        Assert.True(start.Success, $"no stage named {name}");
        int end = s_dockerfile.IndexOf("\nFROM ", start.Index + 1, StringComparison.Ordinal);
        return end < 0 ? s_dockerfile[start.Index..] : s_dockerfile[start.Index..end];
    }

    /// <summary>.dockerignore semantics for the patterns used here: globs, **, trailing /, ! exceptions (last match wins).</summary>
    private static bool IsIgnored(string path, List<string> patterns)
    {
        bool ignored = false;
        foreach (string raw in patterns)
        {
            bool exception = raw.StartsWith('!');
            string pattern = (exception ? raw[1..] : raw).TrimEnd('/');
            string regex = "^" + Regex.Escape(pattern).Replace(@"\*\*/", "(.*/)?").Replace(@"\*", "[^/]*") + "(/.*)?$";
            if (Regex.IsMatch(path, regex))
            {
                ignored = !exception;
            }
        }

        return ignored;
    }

    [GeneratedRegex(@"(?m)^COPY (?!--from)(?<args>[^\n]+)$")]
    private static partial Regex CopyLine();
}
