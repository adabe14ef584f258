using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Ddim;
using Diffusion.Sdk.Sampling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the DDIM sampler and DDIM inversion.</summary>
public static class DdimServiceCollectionExtensions
{
    /// <summary>Makes the <c>ddim</c> sampler (reference class DDIMScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddDdimSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Ddim, "DDIMScheduler", config => new DdimSampler(config),
            ["eta", "clip_sample", "clip_sample_range", "set_alpha_to_one", "thresholding", "dynamic_thresholding_ratio", "sample_max_value"]);

    /// <summary>Makes the <c>ddim-inverse</c> sampler (reference class DDIMInverseScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddDdimInverseSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.DdimInverse, "DDIMInverseScheduler", config => new DdimInverseSampler(config),
            ["clip_sample", "clip_sample_range", "set_alpha_to_one"]);
}
