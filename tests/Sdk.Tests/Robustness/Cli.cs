using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Generate;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>Runs the Generate command line in-process and checks the robustness promises every failure keeps.</summary>
internal static class Cli
{
    private static readonly SemaphoreSlim ConsoleLock = new(1, 1);

    public static async Task<(int Code, string Out, string Error)> Run(params string[] args)
    {
        await ConsoleLock.WaitAsync();
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        var (oldOut, oldError) = (Console.Out, Console.Error);
        Console.SetOut(stdout);
        Console.SetError(stderr);
        try
        {
            return (await GenerateCommand.InvokeAsync(args), stdout.ToString(), stderr.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldError);
            ConsoleLock.Release();
        }
    }

    /// <summary>The one-line rule: exactly one line on stderr, "error: …", no stack trace, no "(Parameter …)".</summary>
    public static void AssertOneLineError(string error, params string[] mentions)
    {
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines, Has.Length.EqualTo(1), error);
        Assert.That(lines[0], Does.StartWith("error: "));
        Assert.That(error, Does.Not.Contain("   at ").And.Not.Contain("(Parameter ").And.Not.Contain("Unhandled exception"), "no stack trace or parameter suffix");
        foreach (var mention in mentions) Assert.That(lines[0], Does.Contain(mention).IgnoreCase, "the message names what was wrong");
    }

    /// <summary>Every file under <paramref name="folder"/> with its bytes' hash, to prove a failed run changed nothing.</summary>
    public static SortedDictionary<string, string> Snapshot(string folder) => new(
        Directory.EnumerateFileSystemEntries(folder, "*", SearchOption.AllDirectories).ToDictionary(
            p => Path.GetRelativePath(folder, p),
            p => File.Exists(p) ? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(p))) : "(folder)"),
        StringComparer.Ordinal);
}
