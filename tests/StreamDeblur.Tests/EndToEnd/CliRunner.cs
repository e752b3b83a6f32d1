using System.Diagnostics;

namespace StreamDeblur.Tests;

/// <summary>Runs the real <c>streamdeblur</c> CLI as a child process, as a user would.</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr);

    /// <summary>The CLI built in the same configuration as the tests.</summary>
    public static string CliDll { get; } = Path.Combine(
        TestPaths.RepoRoot, "src", "StreamDeblur", "bin",
        AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug", "net10.0", "streamdeblur.dll");

    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = TestPaths.RepoRoot,
        };
        psi.ArgumentList.Add(CliDll);
        foreach (string arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        return psi;
    }

    public static async Task<Result> RunAsync(TimeSpan timeout, params string[] args)
    {
        using Process process = Process.Start(StartInfo(args))!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"streamdeblur {string.Join(' ', args)} ran over {timeout}");
        }

        return new Result(process.ExitCode, await stdout, await stderr);
    }
}
