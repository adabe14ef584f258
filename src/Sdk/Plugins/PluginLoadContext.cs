using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Reflection;
using System.Runtime.Loader;

namespace Diffusion.Sdk;

/// <summary>
/// Loads one plugin and its private dependencies in isolation. Assemblies the host already has loaded (the SDK
/// itself, Microsoft.Extensions.*) resolve to the host's copies, so the plugin's types implement the host's interfaces.
/// </summary>
internal sealed class PluginLoadContext(string pluginPath) : AssemblyLoadContext(Path.GetFileNameWithoutExtension(pluginPath), isCollectible: false)
{
    private readonly AssemblyDependencyResolver _resolver = new(pluginPath);

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        // Share every assembly the host already has: a second copy of Diffusion.Sdk would make the plugin's
        // ISamplerPlugin a different type from the host's.
        foreach (var loaded in Default.Assemblies)
            if (AssemblyName.ReferenceMatchesDefinition(assemblyName, loaded.GetName())) return null;
        var path = _resolver.ResolveAssemblyToPath(assemblyName);
        return path is null ? null : LoadFromAssemblyPath(path);
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        var path = _resolver.ResolveUnmanagedDllToPath(unmanagedDllName);
        return path is null ? IntPtr.Zero : LoadUnmanagedDllFromPath(path);
    }
}
