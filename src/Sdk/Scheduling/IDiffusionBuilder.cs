using Microsoft.Extensions.DependencyInjection;

namespace Diffusion.Scheduling;

/// <summary>Returned by <c>AddDiffusionSampling()</c>: sampler assemblies and plugins add their samplers through it.</summary>
public interface IDiffusionBuilder
{
    /// <summary>The service collection being configured.</summary>
    IServiceCollection Services { get; }

    /// <summary>Makes a sampler available to <see cref="ISamplerFactory"/>.</summary>
    IDiffusionBuilder AddSampler(SamplerRegistration registration);

    /// <summary>Adds a sampler wrapper that <see cref="ISamplerFactory.Create(Configuration.SamplingOptions, Configuration.SchedulerConfig?)"/> applies in its order.</summary>
    IDiffusionBuilder AddWrapper(Wrappers.WrapperRegistration registration);
}

internal sealed class DiffusionBuilder(IServiceCollection services, string? source = null) : IDiffusionBuilder
{
    public IServiceCollection Services { get; } = services;

    public IDiffusionBuilder AddSampler(SamplerRegistration registration)
    {
        ArgumentNullException.ThrowIfNull(registration);
        ArgumentException.ThrowIfNullOrWhiteSpace(registration.Name);
        Services.AddSingleton(source is null ? registration : registration with { Source = source });
        return this;
    }

    public IDiffusionBuilder AddWrapper(Wrappers.WrapperRegistration registration)
    {
        ArgumentNullException.ThrowIfNull(registration);
        Services.AddSingleton(registration);
        return this;
    }
}
