using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Diffusion.Sdk.Tests.Support;

/// <summary>Compiles C# source into a plugin assembly on disk, against the SDK the tests run with, as a third party would build one.</summary>
public static class PluginCompiler
{
    /// <summary>Compiles <paramref name="source"/> to <c>{directory}/{assemblyName}.dll</c> and returns its path.</summary>
    /// <param name="directory">Where the plugin goes (created if missing).</param>
    /// <param name="assemblyName">The plugin's assembly and file name.</param>
    /// <param name="source">The plugin's code.</param>
    /// <param name="version">The plugin's own assembly version, if any.</param>
    /// <param name="sdk">
    /// The SDK to compile against instead of the one the tests run with (for example <see cref="OtherSdk"/>, an SDK of
    /// another version), as if the plugin had been built elsewhere.
    /// </param>
    public static string Compile(string directory, string assemblyName, string source, Version? version = null, MetadataReference? sdk = null)
    {
        Directory.CreateDirectory(directory);
        var hostSdk = typeof(Diffusion.Sdk.Abstractions.ISampler).Assembly.Location;
        var references = PlatformReferences(except: Path.GetFileName(hostSdk), typeof(Microsoft.Extensions.DependencyInjection.IServiceCollection).Assembly.Location)
            .Append(sdk ?? MetadataReference.CreateFromFile(hostSdk));
        var compilation = CSharpCompilation.Create(assemblyName, [Parse(source, version)], references, Options);
        var path = Path.Combine(directory, assemblyName + ".dll");
        var result = compilation.Emit(path);
        if (!result.Success)
            throw new InvalidOperationException("Plugin source does not compile:\n" + string.Join("\n", result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        return path;
    }

    /// <summary>
    /// A stand-in for another release of the SDK: an assembly named like the host's contracts (<c>Diffusion.Sdk.Abstractions</c>) with
    /// <paramref name="version"/> and the types in <paramref name="source"/>, compiled in memory for plugins to reference.
    /// </summary>
    public static MetadataReference OtherSdk(Version version, string source)
    {
        var name = typeof(Diffusion.Sdk.Abstractions.ISampler).Assembly.GetName().Name!;
        var compilation = CSharpCompilation.Create(name, [Parse(source, version)], PlatformReferences(except: name + ".dll"), Options);
        using var image = new MemoryStream();
        var result = compilation.Emit(image);
        if (!result.Success)
            throw new InvalidOperationException("SDK source does not compile:\n" + string.Join("\n", result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        return MetadataReference.CreateFromImage(image.ToArray());
    }

    /// <summary>A fresh, empty temporary folder.</summary>
    public static string NewFolder() => Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "diffusion-plugins-" + Guid.NewGuid().ToString("N"))).FullName;

    private static readonly CSharpCompilationOptions Options = new(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable);

    private static SyntaxTree Parse(string source, Version? version) =>
        CSharpSyntaxTree.ParseText((version is null ? "" : $"[assembly: System.Reflection.AssemblyVersion(\"{version}\")]\n") + source);

    // The assemblies the test host runs on (and any more named), less the SDK itself: the caller adds the SDK to build against.
    private static IEnumerable<MetadataReference> PlatformReferences(string except, params string[] more) =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat(more)
            .Where(p => !string.Equals(Path.GetFileName(p), except, StringComparison.OrdinalIgnoreCase))
            .Distinct()
            .Select(p => MetadataReference.CreateFromFile(p));
}
