using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Lms;
using Diffusion.Sdk.Sampling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the linear multistep sampler.</summary>
public static class LmsServiceCollectionExtensions
{
    /// <summary>Makes the <c>lms</c> sampler (reference class LMSDiscreteScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddLmsSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Lms, "LMSDiscreteScheduler", config => new LmsSampler(config),
            ["solver_order", "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "sigma_min", "sigma_max"]);
}
