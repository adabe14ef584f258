using Diffusion.Sdk.Abstractions;
using Microsoft.Extensions.DependencyInjection;

namespace Generate;

/// <summary>--list-samplers: what the registry holds, read from the registrations themselves (plugins included).</summary>
internal static class SamplerList
{
    /// <summary>The built-in samplers' names, from their registrations (the help text's list).</summary>
    public static IEnumerable<string> BuiltInNames()
    {
        var services = new ServiceCollection();
        services.AddBuiltInSamplers();
        return services.Select(d => d.ImplementationInstance).OfType<SamplerRegistration>().Select(r => r.Name).Order(StringComparer.Ordinal).ToArray();
    }

    public static int Print(string? pluginsDirectory)
    {
        if (pluginsDirectory is not null && !Directory.Exists(pluginsDirectory))
            return Runner.Fail($"--plugins folder '{pluginsDirectory}' does not exist", ExitCodes.BadArguments);

        var services = new ServiceCollection();
        var diffusion = services.AddBuiltInSamplers();
        if (pluginsDirectory is not null) diffusion.AddPluginsFrom(pluginsDirectory);
        using var provider = services.BuildServiceProvider();
        var registrations = provider.GetServices<SamplerRegistration>().OrderBy(r => r.Name, StringComparer.OrdinalIgnoreCase).ToArray();

        var nameWidth = registrations.Max(r => r.Name.Length);
        var classWidth = registrations.Max(r => (r.ClassName ?? "-").Length);
        var sourceWidth = registrations.Max(r => r.Source.Length);
        Console.WriteLine($"{"name".PadRight(nameWidth)}  {"reference class".PadRight(classWidth)}  {"from".PadRight(sourceWidth)}  reads (beyond the schedule's keys)");
        foreach (var r in registrations)
        {
            var keys = r.ConfigKeys is { Count: > 0 } k ? string.Join(", ", k.Order(StringComparer.Ordinal)) : "-";
            Console.WriteLine($"{r.Name.PadRight(nameWidth)}  {(r.ClassName ?? "-").PadRight(classWidth)}  {r.Source.PadRight(sourceWidth)}  {keys}");
        }
        if (provider.GetService<Diffusion.Sdk.PluginLoadReport>() is { Failures.Count: > 0 } report)
            foreach (var failure in report.Failures)
                Console.Error.WriteLine($"warning: plugin '{failure.File}' was not loaded: {failure.Reason}");
        return ExitCodes.Success;
    }
}
