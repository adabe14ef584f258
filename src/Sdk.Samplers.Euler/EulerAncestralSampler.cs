using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Euler;

/// <summary>
/// Euler with ancestral sampling (k-diffusion's <c>sample_euler_ancestral</c>, η = 1): each step goes from σ to σ_next
/// as an Euler step down to σ_down followed by fresh noise of level σ_up, with σ_down² + σ_up² = σ_next² and σ_up
/// chosen so the step is a draw from the forward-process posterior of the variance-exploding view.
/// </summary>
/// <remarks>
/// Reference: <c>EulerAncestralDiscreteScheduler</c>. Defaults: <c>timestep_spacing</c> linspace (not rounded); σ is
/// σ_t interpolated linearly at each timestep and the run ends at σ = 0. The reference has no Karras, exponential, beta,
/// log-linear or final-σ options for this sampler, so those keys are ignored here. <c>sample</c> prediction, which the reference
/// rejects, is supported (x̂₀ is the output itself).
/// </remarks>
public sealed class EulerAncestralSampler : SigmaSamplerBase, ICfgPlusPlusSampler
{
    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> for an invalid configuration.</summary>
    public EulerAncestralSampler(SchedulerConfig config) : base(SamplerNames.EulerAncestral, config, sigmaSpacings: false) { }

    private const int NoiseSlot = FirstFreeBufferSlot;

    /// <inheritdoc/>
    protected override void Advance(in SigmaStep step, INoiseSource noise)
    {
        // 1. σ_down and σ_up with σ_down² + σ_up² = σ_next² (k-diffusion's get_ancestral_step), in the reference's
        //    float32 order (the first step's x + (σ_down − σ)·d cancels at large σ, so its rounding shows).
        var (sigmaDown, sigmaUp) = AncestralStep(step.Sigma, step.SigmaTo);

        // 2. Fresh noise of level σ_up. Drawn on every step, the last (σ_up = 0) included, so that a seeded noise
        //    source stays in step with the reference's generator.
        // 3. Euler from σ to σ_down, plus σ_up·z, the noise drawn in the same pass. CFG++ (ComfyUI's
        //    sample_euler_ancestral_cfg_pp): x̂₀ + σ_down·(x − x̂₀ᵘ)/σ + σ_up·z, the guided x̂₀ re-noised along the
        //    unconditional ε. Its noise is drawn on every step as above (ComfyUI draws none on the last, where σ_up = 0).
        if (step.IsCfgPlusPlus) CfgPlusPlusStep(step.Sample, step.Denoised, step.UnconditionalDenoised, step.Sigma, sigmaDown, noise, sigmaUp, NoiseSlot, step.Destination);
        else if (step.Denoised.IsEmpty) EulerStepFromEpsilon(step.Sample, step.ModelOutput, step.Sigma, sigmaDown, noise, sigmaUp, NoiseSlot, step.Destination);
        else EulerStep(step.Sample, step.Denoised, step.Sigma, sigmaDown, noise, sigmaUp, NoiseSlot, step.Destination);
    }

    /// <summary>Null: every configuration takes CFG++ steps.</summary>
    public string? CfgPlusPlusUnsupportedReason => null;

    /// <summary>An ε model's x̂₀ is formed inside the update's pass.</summary>
    protected override bool AdvancesFromEpsilon => true;
}
