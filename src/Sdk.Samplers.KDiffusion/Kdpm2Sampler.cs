using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.KDiffusion;

/// <summary>
/// DPM-Solver-2 in σ as Katherine Crowson's k-diffusion writes it (<c>sample_dpm_2</c>, after Lu et al. 2022,
/// "DPM-Solver", https://arxiv.org/abs/2206.00927, and Karras et al. 2022, https://arxiv.org/abs/2206.00364): from σ_i an
/// Euler half-step to the geometric midpoint σ_mid = √(σ_i·σ_{i+1}), x̃ = x + (σ_mid − σ_i)·d_i with
/// d_i = (x − D(x; σ_i))/σ_i, then the full step with the midpoint's slope, x_{i+1} = x + (σ_{i+1} − σ_i)·d_mid,
/// d_mid = (x̃ − D(x̃; σ_mid))/σ_mid. The last step, to σ = 0, is a plain Euler step. Deterministic.
/// </summary>
/// <remarks>
/// <para>
/// Reference: <c>KDPM2DiscreteScheduler</c>. n steps list 2n − 1 timesteps: t₀, then for each interval the
/// midpoint's (fractional, float32) timestep and the next timestep. <see cref="ISigmaSampler.Sigmas"/> holds the σ
/// of every evaluation (σ₀, σ_mid,0, σ₁, …, σ_{n−1}, 0); <see cref="SigmaSamplerBase.IntervalSigmas"/> the σ_i.
/// </para>
/// <para>
/// As the reference: Karras timesteps are rounded to integers; exponential and beta ones are kept at double
/// precision; the midpoint is exp of the mean of the float32 logs. Where this differs from the reference, on purpose:
/// <c>sample</c> prediction, which the reference rejects, is supported (x̂₀ is the output itself).
/// </para>
/// </remarks>
public sealed class Kdpm2Sampler : SigmaSamplerBase
{
    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> for an invalid configuration.</summary>
    public Kdpm2Sampler(SchedulerConfig config) : base(SamplerNames.Kdpm2, ClassBetaDefaults.KDiffusion(config), twoEvaluationsPerInterval: true) { }

    /// <inheritdoc/>
    public override int Order => 2;

    /// <summary>The geometric midpoint of the interval, exp((ln σ_i + ln σ_{i+1})/2) in float32, and its timestep.</summary>
    protected override (double Sigma, double Timestep) SecondEvaluation(int interval, float sigma, float sigmaNext, double nextTimestep)
    {
        var mid = KDiffusionMath.GeometricMidpoint(sigmaNext, sigma);
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
            // The last interval, to σ = 0: Euler; otherwise 1. Euler from σ_i to the midpoint.
            var target = step.HasSecondEvaluation ? step.SecondSigma : step.SigmaTo;
            if (fromEpsilon) EulerStepFromEpsilon(step.Sample, step.ModelOutput, step.Sigma, target, step.Destination);
            else EulerStep(step.Sample, step.Denoised, step.Sigma, target, step.Destination);
            return;
        }

        // 2. The whole interval from x_i with the midpoint's slope d_mid = (x̃ − D(x̃; σ_mid))/σ_mid.
        if (fromEpsilon) SlopeStepFromEpsilon(step.IntervalStart, step.Sample, step.ModelOutput, step.Sigma, step.SigmaTo - step.SigmaFrom, step.Destination);
        else SlopeStep(step.IntervalStart, step.Sample, step.Denoised, step.Sigma, step.SigmaTo - step.SigmaFrom, step.Destination);
    }

    /// <summary>An ε model's x̂₀ is formed inside each update's pass.</summary>
    protected override bool AdvancesFromEpsilon => true;
}
