using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Diffusion.Tests.Support;

/// <summary>Compiles C# source into a plugin assembly on disk, against the SDK the tests run with, as a third party would build one.</summary>
public static class PluginCompiler
{
    /// <summary>Compiles <paramref name="source"/> to <c>{directory}/{assemblyName}.dll</c> and returns its path.</summary>
    public static string Compile(string directory, string assemblyName, string source, Version? version = null)
    {
        Directory.CreateDirectory(directory);
        var trusted = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var references = trusted
            .Concat([typeof(Diffusion.Scheduling.IScheduler).Assembly.Location, typeof(Microsoft.Extensions.DependencyInjection.IServiceCollection).Assembly.Location])
            .Distinct()
            .Select(p => MetadataReference.CreateFromFile(p));
        var versionAttribute = version is null ? "" : $"[assembly: System.Reflection.AssemblyVersion(\"{version}\")]\n";
        var compilation = CSharpCompilation.Create(assemblyName,
            [CSharpSyntaxTree.ParseText(versionAttribute + source)],
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        var path = Path.Combine(directory, assemblyName + ".dll");
        var result = compilation.Emit(path);
        if (!result.Success)
            throw new InvalidOperationException("Plugin source does not compile:\n" + string.Join("\n", result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        return path;
    }

    /// <summary>A fresh, empty temporary folder.</summary>
    public static string NewFolder() => Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "diffusion-plugins-" + Guid.NewGuid().ToString("N"))).FullName;
}
