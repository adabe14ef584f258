using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Ddpm;
using Diffusion.Sdk.Sampling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the DDPM sampler.</summary>
public static class DdpmServiceCollectionExtensions
{
    /// <summary>Makes the <c>ddpm</c> sampler (reference class DDPMScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddDdpmSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Ddpm, "DDPMScheduler", config => new DdpmSampler(config),
            ["variance_type", "clip_sample", "clip_sample_range", "thresholding", "dynamic_thresholding_ratio", "sample_max_value"]);
}
