using Diffusion.Configuration;
using Diffusion.Samplers.Pndm;
using Diffusion.Scheduling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the PNDM sampler.</summary>
public static class PndmServiceCollectionExtensions
{
    /// <summary>Makes the <c>pndm</c> sampler (reference class PNDMScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddPndmSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Pndm, "PNDMScheduler", config => new PndmScheduler(config), ["skip_prk_steps", "set_alpha_to_one"]);
}
