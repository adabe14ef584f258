using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;

namespace Dpmpp2sAncestralSampler;

/// <summary>
/// DPM-Solver++(2S) with ancestral noise, as k-diffusion's <c>sample_dpmpp_2s_ancestral</c> (Lu et al. 2022,
/// "DPM-Solver++", https://arxiv.org/abs/2211.01095, Algorithm 1 with r = ½; ancestral noise as Crowson's k-diffusion).
/// Each interval σ_i → σ_{i+1} is split into a deterministic step down to σ_down and fresh noise of level σ_up
/// (σ_down² + σ_up² = σ_{i+1}²). In λ = −ln σ with h = ln(σ_i/σ_down), the deterministic step is the second-order
/// single-step exponential integrator of the data prediction through the midpoint σ_s = √(σ_i·σ_down):
/// x₂ = (σ_s/σ_i)·x − (e^{−h/2} − 1)·D(x; σ_i), then x' = (σ_down/σ_i)·x − (e^{−h} − 1)·D(x₂; σ_s), plus σ_up·z.
/// The last step, to σ = 0, is a plain Euler step.
/// </summary>
/// <remarks>
/// Built on the SDK's public σ-space base (<see cref="SigmaSamplerBase"/>), which supplies the schedule, the
/// network-input scaling, x̂₀ for every prediction type and the two evaluations per interval; this file holds only
/// the method. Configuration: <c>timestep_spacing</c>, <c>use_karras_sigmas</c> / <c>use_exponential_sigmas</c> /
/// <c>use_beta_sigmas</c>, every <c>prediction_type</c>. Noise is drawn once per interval, on its second evaluation.
/// </remarks>
public sealed class Dpmpp2sAncestralSampler : SigmaSamplerBase
{
    /// <summary>The name the plugin registers: <c>dpmpp-2s-ancestral</c>.</summary>
    public const string SamplerName = "dpmpp-2s-ancestral";

    private const int NoiseSlot = FirstFreeBufferSlot;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> for an invalid configuration.</summary>
    public Dpmpp2sAncestralSampler(SchedulerConfig config) : base(SamplerName, config, twoEvaluationsPerInterval: true) { }

    /// <inheritdoc/>
    public override int Order => 2;

    /// <summary>The midpoint in λ of σ_i and σ_down, σ_s = √(σ_i·σ_down), at its fractional training timestep.</summary>
    protected override (double Sigma, double Timestep) SecondEvaluation(int interval, float sigma, float sigmaNext, double nextTimestep)
    {
        var midpoint = Math.Sqrt(sigma * (double)AncestralStep(sigma, sigmaNext).Down);
        return (midpoint, (float)ReferenceFloat32.SigmaToTimestep(midpoint, LogTrainingSigmas));
    }

    /// <inheritdoc/>
    protected override void Advance(in SigmaStep step, INoiseSource noise)
    {
        if (!step.HasSecondEvaluation)
        {
            // The last interval, to σ = 0 (σ_down = σ_up = 0): Euler.
            EulerStep(step.Sample, step.Denoised, step.Sigma, step.SigmaTo, step.Destination);
            return;
        }
        if (!step.IsSecondEvaluation)
        {
            // 1. x₂ = (σ_s/σ_i)·x + (1 − σ_s/σ_i)·D(x; σ_i): the first-order (DDIM) step to the midpoint.
            var ratio = step.SecondSigma / step.SigmaFrom;
            PredictionMath.Combine(ratio, step.Sample, 1 - ratio, step.Denoised, step.Destination);
            return;
        }

        // 2. x' = (σ_down/σ_i)·x_i + (1 − σ_down/σ_i)·D(x₂; σ_s) + σ_up·z: the whole step with the midpoint's prediction.
        var (sigmaDown, sigmaUp) = AncestralStep(step.SigmaFrom, step.SigmaTo);
        var z = Buffer(NoiseSlot, step.Destination.Length);
        noise.NextGaussian(z);
        var r = sigmaDown / step.SigmaFrom;
        PredictionMath.Combine(r, step.IntervalStart, 1 - r, step.Denoised, sigmaUp, z, step.Destination);
    }
}
