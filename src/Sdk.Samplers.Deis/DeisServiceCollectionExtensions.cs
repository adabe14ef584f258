using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Deis;
using Diffusion.Sdk.Sampling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the DEIS multistep sampler.</summary>
public static class DeisServiceCollectionExtensions
{
    /// <summary>Makes the <c>deis</c> sampler (reference class DEISMultistepScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddDeisSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Deis, "DEISMultistepScheduler", config => config.UseFlowSigmas == true ? new DeisFlowSampler(config) : new DeisSampler(config),
            ["solver_order", "algorithm_type", "solver_type", "lower_order_final", "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas",
             "sigma_min", "sigma_max", "thresholding", "dynamic_thresholding_ratio", "sample_max_value", "use_flow_sigmas", "flow_shift", "use_dynamic_shifting"]);
}
