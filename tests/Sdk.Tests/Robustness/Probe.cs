using System.Diagnostics;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>
/// Runs a probe of <c>tests/Probes</c> in a child process, where a native crash shows as a signal (exit 134 or 139)
/// and fails one test instead of killing the test host.
/// </summary>
internal static class Probe
{
    private static readonly string Program = Path.Combine(AppContext.BaseDirectory, "probes", "diffusion-probes.dll");

    /// <summary>Runs the probe and asserts that it exited 0 with "ok: …" naming <paramref name="mention"/>.</summary>
    public static string AssertOk(string mention, TimeSpan timeout, params string[] args)
    {
        var (code, output) = Run(timeout, args);
        Assert.That(code, Is.Zero, $"exit {code} (134 or 139: a native crash): {output}");
        Assert.That(output, Does.StartWith("ok: ").And.Contain(mention));
        return output;
    }

    public static (int Code, string Output) Run(TimeSpan timeout, params string[] args)
    {
        using var process = System.Diagnostics.Process.Start(new ProcessStartInfo("dotnet", [Program, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"the probe {string.Join(' ', args)} did not finish within {timeout}");
        }
        process.WaitForExit();
        return (process.ExitCode, output.Result + error.Result);
    }
}
