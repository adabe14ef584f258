using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Pndm;
using Diffusion.Sdk.Sampling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the PNDM and iPNDM samplers.</summary>
public static class PndmServiceCollectionExtensions
{
    /// <summary>Makes the <c>pndm</c> sampler (reference class PNDMScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddPndmSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Pndm, "PNDMScheduler", config => new PndmSampler(config), ["skip_prk_steps", "set_alpha_to_one"]);

    /// <summary>Makes the <c>ipndm</c> sampler (reference class IPNDMScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddIpndmSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Ipndm, "IPNDMScheduler", config => new IpndmSampler(config), []);
}
