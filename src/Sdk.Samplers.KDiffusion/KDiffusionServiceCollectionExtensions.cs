using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.KDiffusion;
using Diffusion.Sdk.Sampling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the second-order σ-space samplers of k-diffusion: Heun, KDPM2 and KDPM2 ancestral.</summary>
public static class KDiffusionServiceCollectionExtensions
{
    // The σ-spacing keys all three read (beyond the schedule's own).
    private static readonly string[] SigmaKeys = ["use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "sigma_min", "sigma_max"];

    /// <summary>Makes the <c>heun</c> sampler (reference class HeunDiscreteScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddHeunSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Heun, "HeunDiscreteScheduler", config => new HeunSampler(config),
            [.. SigmaKeys, "clip_sample", "clip_sample_range"]);

    /// <summary>Makes the <c>kdpm2</c> sampler (reference class KDPM2DiscreteScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddKdpm2Sampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Kdpm2, "KDPM2DiscreteScheduler", config => new Kdpm2Sampler(config), SigmaKeys);

    /// <summary>Makes the <c>kdpm2-ancestral</c> sampler (reference class KDPM2AncestralDiscreteScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddKdpm2AncestralSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.Kdpm2Ancestral, "KDPM2AncestralDiscreteScheduler", config => new Kdpm2AncestralSampler(config), SigmaKeys);

    /// <summary>Makes the <c>dpm-solver-sde</c> sampler (reference class DPMSolverSDEScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddDpmSolverSdeSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.DpmSolverSde, "DPMSolverSDEScheduler", config => new DpmSolverSdeSampler(config),
            ["use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "s_noise", "noise_sampler_seed"]);
}
