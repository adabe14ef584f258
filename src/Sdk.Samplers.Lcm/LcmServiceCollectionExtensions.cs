using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Lcm;
using Diffusion.Sdk.Sampling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the consistency-model samplers, LCM and TCD.</summary>
public static class LcmServiceCollectionExtensions
{
    /// <summary>Makes the <c>lcm</c> sampler (reference class LCMScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddLcmSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Lcm, "LCMScheduler", config => new LcmSampler(config),
            ["original_inference_steps", "timestep_scaling", "clip_sample", "clip_sample_range", "set_alpha_to_one", "thresholding", "dynamic_thresholding_ratio", "sample_max_value"]);

    /// <summary>Makes the <c>tcd</c> sampler (reference class TCDScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddTcdSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Tcd, "TCDScheduler", config => new TcdSampler(config),
            ["eta", "original_inference_steps"]);
}
