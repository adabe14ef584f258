using Diffusion.Configuration;
using Diffusion.Samplers.KDiffusion;
using Diffusion.Scheduling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the second-order σ-space samplers of k-diffusion: Heun, KDPM2 and KDPM2 ancestral.</summary>
public static class KDiffusionServiceCollectionExtensions
{
    /// <summary>Makes the <c>heun</c> sampler (reference class HeunDiscreteScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddHeunSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Heun, "HeunDiscreteScheduler", config => new HeunScheduler(config));

    /// <summary>Makes the <c>kdpm2</c> sampler (reference class KDPM2DiscreteScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddKdpm2Sampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Kdpm2, "KDPM2DiscreteScheduler", config => new Kdpm2Scheduler(config));

    /// <summary>Makes the <c>kdpm2-ancestral</c> sampler (reference class KDPM2AncestralDiscreteScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddKdpm2AncestralSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Kdpm2Ancestral, "KDPM2AncestralDiscreteScheduler", config => new Kdpm2AncestralScheduler(config));
}
