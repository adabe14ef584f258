using Diffusion.Configuration;
using Diffusion.Samplers.Lcm;
using Diffusion.Scheduling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the consistency-model samplers, LCM and TCD.</summary>
public static class LcmServiceCollectionExtensions
{
    /// <summary>Makes the <c>lcm</c> sampler (reference class LCMScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddLcmSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Lcm, "LCMScheduler", config => new LcmScheduler(config));

    /// <summary>Makes the <c>tcd</c> sampler (reference class TCDScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddTcdSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Tcd, "TCDScheduler", config => new TcdScheduler(config));
}
