using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk;
using Diffusion.Sdk.Sampling;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the diffusion sampling host with a service collection.</summary>
public static class DiffusionServiceCollectionExtensions
{
    /// <summary>
    /// Adds the sampler factory and plugin report. Add samplers on the returned builder:
    /// <c>services.AddDiffusionSampling().AddDdimSampler().AddPluginsFrom("plugins")</c>.
    /// </summary>
    public static IDiffusionBuilder AddDiffusionSampling(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddLogging();
        services.TryAddSingleton<PluginLoadReport>();
        services.TryAddSingleton<ISamplerFactory, SamplerFactory>();
        return new DiffusionBuilder(services);
    }

    /// <summary>
    /// Loads every sampler plugin assembly in <paramref name="directory"/> (only that folder: plugins are never
    /// searched for elsewhere), each in its own load context. A plugin that fails is recorded in
    /// <see cref="PluginLoadReport"/> and logged with its file name and the reason; the others still load.
    /// </summary>
    public static IDiffusionBuilder AddPluginsFrom(this IDiffusionBuilder builder, string directory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var report = GetOrAddReport(builder.Services);
        PluginLoader.LoadFolder(builder, directory, report);
        return builder;
    }

    private static PluginLoadReport GetOrAddReport(IServiceCollection services)
    {
        var existing = services.FirstOrDefault(d => d.ServiceType == typeof(PluginLoadReport) && d.ImplementationInstance is PluginLoadReport);
        if (existing?.ImplementationInstance is PluginLoadReport report) return report;
        services.RemoveAll<PluginLoadReport>();
        report = new PluginLoadReport();
        services.AddSingleton(report);
        return report;
    }
}
