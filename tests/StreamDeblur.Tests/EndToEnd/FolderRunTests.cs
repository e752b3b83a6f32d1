using System.Text.RegularExpressions;
using StreamDeblur.App;
using StreamDeblur.Tests.Operations;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary><c>run --input DIR --output DIR</c>: every video of a folder, a bad one failing alone, and a rerun that resumes.</summary>
public sealed class FolderRunTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(240);

    [Fact]
    public async Task AFolderIsCleanedABadFileFailsAloneAndARerunSkipsWhatIsDone()
    {
        string root = TestPaths.TempDir("folder");
        string input = Path.Combine(root, "in");
        string output = Path.Combine(root, "out");
        Directory.CreateDirectory(Path.Combine(input, "sub"));
        File.Copy(OpsClips.ShortSample, Path.Combine(input, "a.mp4"));
        File.Copy(OpsClips.Good, Path.Combine(input, "sub", "b.mp4"));
        File.WriteAllText(Path.Combine(input, "broken.mp4"), "not a video");
        File.WriteAllText(Path.Combine(input, "notes.txt"), "not taken");
        string config = Path.Combine(root, "model.json");
        File.WriteAllText(config, $$"""{ "model": { "metadata": {{System.Text.Json.JsonSerializer.Serialize(TestPaths.ModelMetadata)}} } }""");
        string[] run = ["run", "--input", input, "--output", output, "--recursive", "--jobs", "2", "--config", config];

        CliRunner.Result first = await CliRunner.RunAsync(s_timeout, run);
        Assert.Equal(RunCommand.ExitSomeFailed, first.ExitCode);
        Assert.DoesNotContain("   at ", first.StdOut + first.StdErr);
        Assert.Matches(new Regex(@"(?m)^file\s+frames\s+deblurred\s+time\s+result$"), first.StdOut);
        Assert.Matches(new Regex(@"(?m)^a\.mp4\s+40\s+\d+\s+[\d.]+ s\s+done -> .*out/a\.mp4$"), first.StdOut);
        Assert.Matches(new Regex(@"(?m)^sub/b\.mp4\s+20\s+\d+\s+[\d.]+ s\s+done -> .*out/sub/b\.mp4$"), first.StdOut);
        Assert.Matches(new Regex(@"(?m)^broken\.mp4\s+0\s+0\s+[\d.]+ s\s+failed: input is not a readable video"), first.StdOut);
        Assert.Contains("files: 3, done 2, failed 1, stopped 0", first.StdOut);
        Assert.Equal(40, FfProbe.Probe(Path.Combine(output, "a.mp4")).Frames);
        Assert.Equal(20, FfProbe.Probe(Path.Combine(output, "sub", "b.mp4")).Frames);
        Assert.True(File.Exists(Path.Combine(output, "a.mp4.provenance.json")));
        Assert.False(File.Exists(Path.Combine(output, "notes.txt")));

        CliRunner.Result second = await CliRunner.RunAsync(s_timeout, run);
        Assert.Equal(RunCommand.ExitSomeFailed, second.ExitCode);
        Assert.Matches(new Regex(@"(?m)^a\.mp4\s+-\s+-\s+-\s+skipped: done by an earlier run$"), second.StdOut);
        Assert.Matches(new Regex(@"(?m)^sub/b\.mp4\s+-\s+-\s+-\s+skipped: done by an earlier run$"), second.StdOut);
        Assert.Contains("files: 3, done 2, failed 1, stopped 0", second.StdOut);

        File.Delete(Path.Combine(input, "broken.mp4"));
        CliRunner.Result third = await CliRunner.RunAsync(s_timeout, [.. run.Where(a => a != "--recursive")]);
        Assert.Equal(RunCommand.ExitAllDone, third.ExitCode);
        Assert.Contains("files: 1, done 1, failed 0, stopped 0", third.StdOut); // without --recursive, sub/ is not taken
    }

    [Fact]
    public void TheListOfInputsIsOrderedAndLeavesOutTheOutputFolderPartialsAndOtherFiles()
    {
        string root = TestPaths.TempDir("folder-list");
        string output = Path.Combine(root, "cleaned");
        foreach (string file in new[] { "b.mp4", "A.MKV", "c.partial.mp4", "z/d.avi", "cleaned/a.mp4", "x.txt", "y.mp4.provenance.json" })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(root, file))!);
            File.WriteAllText(Path.Combine(root, file), "");
        }

        Assert.Equal(["A.MKV", "b.mp4"], FolderJob.ListInputs(root, recursive: false, output).Select(p => Path.GetRelativePath(root, p)));
        Assert.Equal(["A.MKV", "b.mp4", "z/d.avi"], FolderJob.ListInputs(root, recursive: true, output).Select(p => Path.GetRelativePath(root, p)));
        Assert.Equal(Path.Combine(output, "z", "d.mkv"), FolderJob.OutputFor(Path.Combine(root, "z", "d.avi"), root, output));
        Assert.Equal(Path.Combine(output, "b.mp4"), FolderJob.OutputFor(Path.Combine(root, "b.mp4"), root, output));
    }

    [Fact]
    public void TheSameFileIsFoundThroughLinks()
    {
        string root = TestPaths.TempDir("same-file-unit");
        string file = Path.Combine(root, "a.mp4");
        File.WriteAllText(file, "x");
        File.CreateSymbolicLink(Path.Combine(root, "link.mp4"), file);
        File.WriteAllText(Path.Combine(root, "other.mp4"), "x");
        Assert.True(OutputSafety.SameFile(Path.Combine(root, "link.mp4"), file));
        Assert.True(OutputSafety.SameFile(Path.Combine(root, ".", "a.mp4"), file));
        Assert.False(OutputSafety.SameFile(Path.Combine(root, "other.mp4"), file));
        Assert.False(OutputSafety.SameFile(Path.Combine(root, "missing.mp4"), file));
    }

    [Fact]
    public async Task TheOutputFolderMayNotBeTheInputFolder()
    {
        string root = TestPaths.TempDir("folder-same");
        CliRunner.Result result = await CliRunner.RunAsync(s_timeout, "run", "--input", root, "--output", Path.Combine(root, "."));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("is the input folder", result.StdErr);
    }
}
