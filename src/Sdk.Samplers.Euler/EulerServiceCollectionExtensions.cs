using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Euler;
using Diffusion.Sdk.Sampling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Euler samplers.</summary>
public static class EulerServiceCollectionExtensions
{
    /// <summary>Makes the <c>euler</c> sampler (reference class EulerDiscreteScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddEulerSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Euler, "EulerDiscreteScheduler", config => new EulerSampler(config),
            ["interpolation_type", "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "final_sigmas_type", "timestep_type", "sigma_min", "sigma_max"]);

    /// <summary>Makes the <c>euler-ancestral</c> sampler (reference class EulerAncestralDiscreteScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddEulerAncestralSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.EulerAncestral, "EulerAncestralDiscreteScheduler", config => new EulerAncestralSampler(config), []);
}
