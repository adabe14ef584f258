using Microsoft.Extensions.DependencyInjection;

namespace Diffusion.Sdk.Abstractions;

/// <summary>Returned by <c>AddDiffusionSampling()</c>: sampler assemblies and plugins add their samplers through it.</summary>
public interface IDiffusionBuilder
{
    /// <summary>The service collection being configured.</summary>
    IServiceCollection Services { get; }

    /// <summary>Makes a sampler available to <see cref="ISamplerFactory"/>.</summary>
    IDiffusionBuilder AddSampler(SamplerRegistration registration);

    /// <summary>Adds a sampler wrapper that <see cref="ISamplerFactory.Create(Diffusion.Sdk.Abstractions.SamplingOptions, Diffusion.Sdk.Abstractions.SchedulerConfig?)"/> applies in its order.</summary>
    IDiffusionBuilder AddWrapper(Diffusion.Sdk.Abstractions.WrapperRegistration registration);
}
