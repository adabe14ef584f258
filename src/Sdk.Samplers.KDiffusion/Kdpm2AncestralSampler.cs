using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.KDiffusion;

/// <summary>
/// DPM-Solver-2 with ancestral sampling, as k-diffusion's <c>sample_dpm_2_ancestral</c> (Crowson; after Lu et al. 2022,
/// https://arxiv.org/abs/2206.00927, and Karras et al. 2022, https://arxiv.org/abs/2206.00364): each interval
/// σ_i → σ_{i+1} is split into a deterministic DPM-Solver-2 step down to σ_down and fresh noise of level σ_up, with
/// σ_up = √(σ_{i+1}²·(σ_i² − σ_{i+1}²)/σ_i²) and σ_down = √(σ_{i+1}² − σ_up²) (a draw from the forward-process
/// posterior). The deterministic part goes through the geometric midpoint σ_mid = √(σ_i·σ_down): x̃ = x + (σ_mid − σ_i)·d_i,
/// then x_{i+1} = x + (σ_down − σ_i)·(x̃ − D(x̃; σ_mid))/σ_mid + σ_up·z. The last step, to σ = 0, is a plain Euler step.
/// </summary>
/// <remarks>
/// Reference: <c>KDPM2AncestralDiscreteScheduler</c>; timesteps and options as <see cref="Kdpm2Sampler"/>. Noise is
/// drawn on the second evaluation of each interval only (one tensor), never on the last step. <c>sample</c> prediction,
/// which the reference rejects, is supported.
/// </remarks>
public sealed class Kdpm2AncestralSampler : SigmaSamplerBase
{
    private const int NoiseSlot = FirstFreeBufferSlot;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> for an invalid configuration.</summary>
    public Kdpm2AncestralSampler(SchedulerConfig config) : base(SamplerNames.Kdpm2Ancestral, ClassBetaDefaults.KDiffusion(config), twoEvaluationsPerInterval: true) { }

    /// <inheritdoc/>
    public override int Order => 2;

    /// <summary>The geometric midpoint of σ_i and σ_down (float32, as the reference), and its timestep.</summary>
    protected override (double Sigma, double Timestep) SecondEvaluation(int interval, float sigma, float sigmaNext, double nextTimestep)
    {
        var mid = KDiffusionMath.GeometricMidpoint(sigma, AncestralStep(sigma, sigmaNext).Down);
        return (mid, ReferenceFloat32.Float32SigmaToTimestep(mid, LogTrainingSigmas));
    }

    /// <summary>Karras timesteps rounded to integers, exponential and beta ones at double precision, as the reference lists them.</summary>
    protected override double[] TimestepsOfSpacedSigmas(double[] sigmas) => KDiffusionMath.Kdpm2Timesteps(sigmas, SigmaSpacing, LogTrainingSigmas);

    /// <summary>An explicit σ list (the Karras wrapper's) takes integer timesteps, as the reference's Karras spacing does.</summary>
    protected override double[] TimestepsOfExplicitSigmas(double[] sigmas) => KDiffusionMath.Kdpm2Timesteps(sigmas, SigmaSpacing.Karras, LogTrainingSigmas);

    /// <inheritdoc/>
    protected override void Advance(in SigmaStep step, INoiseSource noise)
    {
        // An ε model's x̂₀ is formed inside each pass (Denoised is empty then).
        var fromEpsilon = step.Denoised.IsEmpty;
        if (!step.HasSecondEvaluation || !step.IsSecondEvaluation)
        {
            // The last interval, to σ = 0 (σ_up = 0): Euler, without noise; otherwise 1. Euler from σ_i to the midpoint.
            var target = step.HasSecondEvaluation ? step.SecondSigma : step.SigmaTo;
            if (fromEpsilon) EulerStepFromEpsilon(step.Sample, step.ModelOutput, step.Sigma, target, step.Destination);
            else EulerStep(step.Sample, step.Denoised, step.Sigma, target, step.Destination);
            return;
        }

        // 2. From x_i to σ_down with the midpoint's slope, plus fresh noise of level σ_up.
        var (sigmaDown, sigmaUp) = AncestralStep(step.SigmaFrom, step.SigmaTo);
        if (fromEpsilon)
            SlopeStepFromEpsilon(step.IntervalStart, step.Sample, step.ModelOutput, step.Sigma, sigmaDown - step.SigmaFrom, noise, sigmaUp, NoiseSlot, step.Destination);
        else SlopeStep(step.IntervalStart, step.Sample, step.Denoised, step.Sigma, sigmaDown - step.SigmaFrom, noise, sigmaUp, NoiseSlot, step.Destination);
    }

    /// <summary>An ε model's x̂₀ is formed inside each update's pass.</summary>
    protected override bool AdvancesFromEpsilon => true;
}
