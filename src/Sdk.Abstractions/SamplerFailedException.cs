namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// A sampler (usually a plugin's) threw something other than an SDK error while it was being created or stepped.
/// The message names the sampler, the assembly it came from, what it was doing and the cause; <see cref="Exception.InnerException"/>
/// holds the original failure.
/// </summary>
public sealed class SamplerFailedException : DiffusionException
{
    /// <summary>Creates the exception for <paramref name="sampler"/> from <paramref name="source"/>, failing while <paramref name="doing"/>.</summary>
    public SamplerFailedException(string sampler, string source, string doing, Exception cause)
        : base($"The sampler '{sampler}' (from {source}) failed while {doing}: {cause.GetType().Name}: {OneLine(cause.Message)}", cause)
    {
        Sampler = sampler;
        SamplerSource = source;
    }

    /// <summary>The sampler's name.</summary>
    public string Sampler { get; }

    /// <summary>The assembly or plugin file the failing code lives in.</summary>
    public string SamplerSource { get; }

    private static string OneLine(string message) =>
        string.Join(" ", message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>The file name of the assembly whose code threw <paramref name="e"/> (its first stack frame), else of <paramref name="fallback"/>'s type.</summary>
    internal static string SourceOf(Exception e, object fallback)
    {
        var assembly = new System.Diagnostics.StackTrace(e).GetFrame(0)?.GetMethod()?.DeclaringType?.Assembly ?? fallback.GetType().Assembly;
        return string.IsNullOrEmpty(assembly.Location) ? assembly.GetName().Name ?? "an unknown assembly" : Path.GetFileName(assembly.Location);
    }

    /// <summary>Whether <paramref name="e"/> is a sampler's own failure to wrap: not an SDK error, a cancellation, a disposal or the machine running out of memory.</summary>
    internal static bool IsForeign(Exception e) =>
        e is not (DiffusionException or OperationCanceledException or ObjectDisposedException or OutOfMemoryException);
}
