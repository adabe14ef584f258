using System.Reflection;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk;

/// <summary>Finds sampler plugins in a folder the host names, each in its own load context, and lets them register.</summary>
internal static class PluginLoader
{
    private static readonly AssemblyName HostSdk = typeof(ISamplerPlugin).Assembly.GetName();

    public static void LoadFolder(IDiffusionBuilder builder, string directory, PluginLoadReport report)
    {
        if (!Directory.Exists(directory))
        {
            report.AddFailure(directory, File.Exists(directory)
                ? "is a file, not a folder: name the folder that holds the plugin assemblies"
                : "the plugin folder does not exist");
            return;
        }
        foreach (var file in Directory.EnumerateFiles(directory, "*.dll", SearchOption.TopDirectoryOnly).Order(StringComparer.Ordinal))
            LoadFile(builder, Path.GetFullPath(file), report);
    }

    private static void LoadFile(IDiffusionBuilder builder, string file, PluginLoadReport report)
    {
        AssemblyName name;
        try
        {
            name = AssemblyName.GetAssemblyName(file);
        }
        catch (Exception e) when (e is BadImageFormatException or FileLoadException or IOException)
        {
            report.AddFailure(file, $"not a .NET assembly ({e.Message})");
            return;
        }
        // The SDK's own assemblies and the host's shared libraries may sit next to a plugin: they are not plugins.
        if (IsHostAssembly(name)) return;

        Type[] entryTypes;
        try
        {
            var assembly = new PluginLoadContext(file).LoadFromAssemblyPath(file);
            var sdkReference = assembly.GetReferencedAssemblies().FirstOrDefault(r => r.Name == HostSdk.Name);
            if (sdkReference is null) return; // a dependency of some plugin, not a plugin itself
            if (sdkReference.Version is { } v && HostSdk.Version is { } host && v.Major != host.Major)
            {
                report.AddFailure(file, $"built against {HostSdk.Name} {v}, which is incompatible with the host's {host} (major versions differ); rebuild the plugin against {host.Major}.x");
                return;
            }
            entryTypes = assembly.GetExportedTypes()
                .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(ISamplerPlugin).IsAssignableFrom(t))
                .ToArray();
        }
        catch (Exception e) when (e is FileLoadException or FileNotFoundException or BadImageFormatException or ReflectionTypeLoadException or TypeLoadException)
        {
            report.AddFailure(file, $"could not be loaded: {e.Message}");
            return;
        }

        if (entryTypes.Length != 1)
        {
            report.AddFailure(file, entryTypes.Length == 0
                ? $"references {HostSdk.Name} but has no public class implementing {nameof(ISamplerPlugin)}"
                : $"has {entryTypes.Length} classes implementing {nameof(ISamplerPlugin)} ({string.Join(", ", entryTypes.Select(t => t.FullName))}); a plugin must expose exactly one entry type");
            return;
        }

        // Register into a staging collection first, so a plugin that throws half-way leaves nothing behind.
        var staging = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
        try
        {
            var plugin = (ISamplerPlugin)Activator.CreateInstance(entryTypes[0])!;
            plugin.Register(new DiffusionBuilder(staging, Path.GetFileName(file)));
        }
        catch (Exception e)
        {
            var cause = e is TargetInvocationException { InnerException: { } inner } ? inner : e;
            report.AddFailure(file, $"{entryTypes[0].FullName}.Register threw {cause.GetType().Name}: {cause.Message}");
            return;
        }
        // A plugin may add samplers, never replace or shadow one the host has: a built-in name, or one already
        // registered by the host, compared case-insensitively as the factory looks names up, refuses the whole plugin.
        // (Two plugins claiming one name stay the factory's error naming both: neither is the host's.)
        var plugins = report.Loaded.Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        var taken = builder.Services.Select(d => d.ImplementationInstance).OfType<SamplerRegistration>().Where(r => !plugins.Contains(r.Source)).ToArray();
        foreach (var registration in staging.Select(d => d.ImplementationInstance).OfType<SamplerRegistration>())
        {
            var owner = BuiltInNames.Contains(registration.Name) ? "the SDK's built-in samplers"
                : taken.FirstOrDefault(t => string.Equals(t.Name, registration.Name, StringComparison.OrdinalIgnoreCase))?.Source;
            if (owner is null) continue;
            report.AddFailure(file, NameClash(registration.Name, owner));
            return;
        }
        foreach (var descriptor in staging) builder.Services.Add(descriptor);
        report.AddLoaded(file);
    }

    private static readonly HashSet<string> BuiltInNames = new(
        typeof(Diffusion.Sdk.Abstractions.SamplerNames).GetFields().Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!), StringComparer.OrdinalIgnoreCase);

    /// <summary>Why a plugin that registers a name the host already has is refused.</summary>
    public static string NameClash(string name, string owner) =>
        $"registers the sampler name '{name}', which {owner} already provide{(owner.StartsWith("the SDK", StringComparison.Ordinal) ? "" : "s")} (names are compared case-insensitively); " +
        "a plugin may add samplers but not replace one: rename the plugin's sampler";

    // Only the host's own load context counts: plugins loaded earlier live in contexts of their own.
    private static bool IsHostAssembly(AssemblyName name) =>
        System.Runtime.Loader.AssemblyLoadContext.Default.Assemblies.Any(a => a.GetName().Name == name.Name);
}
