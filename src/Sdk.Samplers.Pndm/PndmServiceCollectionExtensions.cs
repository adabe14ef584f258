using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Pndm;
using Diffusion.Sdk.Sampling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the PNDM sampler.</summary>
public static class PndmServiceCollectionExtensions
{
    /// <summary>Makes the <c>pndm</c> sampler (reference class PNDMScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddPndmSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Pndm, "PNDMScheduler", config => new PndmSampler(config), ["skip_prk_steps", "set_alpha_to_one"]);
}
