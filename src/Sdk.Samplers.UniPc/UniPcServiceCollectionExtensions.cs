using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.UniPc;
using Diffusion.Sdk.Sampling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the UniPC multistep sampler.</summary>
public static class UniPcServiceCollectionExtensions
{
    /// <summary>Makes the <c>unipc</c> sampler (reference class UniPCMultistepScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddUniPcSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.UniPc, "UniPCMultistepScheduler", config => config.UseFlowSigmas == true ? new UniPcFlowSampler(config) : new UniPcSampler(config),
            ["solver_order", "solver_type", "predict_x0", "lower_order_final", "disable_corrector", "use_karras_sigmas", "use_exponential_sigmas",
             "use_beta_sigmas", "final_sigmas_type", "sigma_min", "sigma_max", "thresholding", "dynamic_thresholding_ratio", "sample_max_value",
             "use_flow_sigmas", "flow_shift", "use_dynamic_shifting", "time_shift_type", "shift_terminal"]);
}
