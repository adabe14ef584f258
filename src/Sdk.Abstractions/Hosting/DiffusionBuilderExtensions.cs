using Diffusion.Sdk.Abstractions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration helpers for sampler assemblies and plugins.</summary>
public static class DiffusionBuilderExtensions
{
    /// <summary>Registers a sampler type under <paramref name="name"/>; its source is the type's assembly.</summary>
    /// <param name="builder">The host builder.</param>
    /// <param name="name">The name users ask for.</param>
    /// <param name="className">The reference <c>_class_name</c> that selects it, if any.</param>
    /// <param name="create">Builds an instance from a configuration.</param>
    /// <param name="configKeys">The <c>scheduler_config.json</c> keys the sampler reads beyond the schedule's (<see cref="SamplerRegistration.ConfigKeys"/>).</param>
    public static IDiffusionBuilder AddSampler<TSampler>(this IDiffusionBuilder builder, string name, string? className, Func<SchedulerConfig, TSampler> create,
        IEnumerable<string>? configKeys = null)
        where TSampler : ISampler
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(create);
        return builder.AddSampler(new SamplerRegistration(name, (config, _) => create(config), className)
        {
            Source = typeof(TSampler).Assembly.GetName().Name ?? typeof(TSampler).FullName!,
            ConfigKeys = configKeys?.ToHashSet(StringComparer.Ordinal),
        });
    }
}
