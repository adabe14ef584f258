using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
namespace Diffusion.Sdk;

/// <summary>A plugin file that could not be used, and why.</summary>
/// <param name="File">The plugin assembly's path.</param>
/// <param name="Reason">What went wrong, in words a user can act on.</param>
public sealed record PluginLoadFailure(string File, string Reason);

/// <summary>What plugin discovery found: the plugins that registered samplers and the files that failed. Available from DI.</summary>
public sealed class PluginLoadReport
{
    private readonly List<string> _loaded = [];
    private readonly List<PluginLoadFailure> _failures = [];

    /// <summary>The plugin assemblies whose entry types registered successfully.</summary>
    public IReadOnlyList<string> Loaded => _loaded;

    /// <summary>The plugin assemblies that failed to load or register; the host and the other plugins keep working.</summary>
    public IReadOnlyList<PluginLoadFailure> Failures => _failures;

    internal void AddLoaded(string file) => _loaded.Add(file);

    internal void AddFailure(string file, string reason) => _failures.Add(new PluginLoadFailure(file, reason));

    /// <summary>Moves a loaded plugin (named by its file name) to the failures, once.</summary>
    internal void Refuse(string fileName, string reason)
    {
        var index = _loaded.FindIndex(f => Path.GetFileName(f) == fileName);
        if (index < 0) return;
        var file = _loaded[index];
        _loaded.RemoveAt(index);
        _failures.Add(new PluginLoadFailure(file, reason));
    }
}
