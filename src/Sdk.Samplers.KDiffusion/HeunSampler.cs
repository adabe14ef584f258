using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.KDiffusion;

/// <summary>
/// Heun's second-order method on the probability-flow ODE dx/dσ = (x − D(x; σ))/σ (Karras et al. 2022, "Elucidating
/// the Design Space of Diffusion-Based Generative Models", https://arxiv.org/abs/2206.00364, Algorithm 1 with
/// S_churn = 0): from σ_i an Euler predictor x̃ = x + (σ_{i+1} − σ_i)·d_i, d_i = (x − D(x; σ_i))/σ_i, then the
/// trapezoidal corrector x_{i+1} = x + (σ_{i+1} − σ_i)·(d_i + d̃)/2 with d̃ = (x̃ − D(x̃; σ_{i+1}))/σ_{i+1}. The last
/// step, to σ = 0, is a plain Euler step (the corrector would divide by σ = 0). Deterministic.
/// </summary>
/// <remarks>
/// <para>
/// Reference: <c>HeunDiscreteScheduler</c>. One <see cref="ISampler.Step"/> call is one network evaluation, so n steps
/// list 2n − 1 timesteps, t₀, t₁, t₁, …, t_{n−1}, t_{n−1} (the corrector's evaluation of x̃ at σ_{i+1}, then the next
/// predictor's at the same σ), and <see cref="ISigmaSampler.Sigmas"/> is σ₀, σ₁, σ₁, …, σ_{n−1}, σ_{n−1}, 0.
/// </para>
/// <para>
/// Configuration: <c>timestep_spacing</c> (linspace, not rounded; leading; trailing), <c>use_karras_sigmas</c>,
/// <c>use_exponential_sigmas</c> or <c>use_beta_sigmas</c> (between the ends of the spaced timesteps' σ, or
/// <c>sigma_min</c>/<c>sigma_max</c>), every <c>prediction_type</c>, <c>clip_sample</c>/<c>clip_sample_range</c> on x̂₀.
/// Image-to-image: a run that starts on a repeated timestep begins at its second position, the first evaluation of an
/// interval, as the reference's does.
/// </para>
/// </remarks>
public sealed class HeunSampler : SigmaSamplerBase
{
    // The predictor's slope d_i, which the corrector averages with its own.
    private const int SlopeSlot = FirstFreeBufferSlot;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> for an invalid configuration.</summary>
    public HeunSampler(SchedulerConfig config) : base(SamplerNames.Heun, ClassBetaDefaults.KDiffusion(config), twoEvaluationsPerInterval: true, clipSample: true) { }

    /// <inheritdoc/>
    public override int Order => 2;

    /// <summary>The corrector evaluates the predicted sample at the interval's end, σ_{i+1}, at the next timestep.</summary>
    protected override (double Sigma, double Timestep) SecondEvaluation(int interval, float sigma, float sigmaNext, double nextTimestep) => (sigmaNext, nextTimestep);

    /// <inheritdoc/>
    protected override void Advance(in SigmaStep step, INoiseSource noise)
    {
        // An ε model's x̂₀ = x − σ·ε is formed inside each pass (Denoised is empty then; see AdvancesFromEpsilon).
        var fromEpsilon = step.Denoised.IsEmpty;

        // The last interval, to σ = 0: Euler.
        if (!step.HasSecondEvaluation)
        {
            if (fromEpsilon) EulerStepFromEpsilon(step.Sample, step.ModelOutput, step.Sigma, step.SigmaTo, step.Destination);
            else EulerStep(step.Sample, step.Denoised, step.Sigma, step.SigmaTo, step.Destination);
            return;
        }

        var dt = step.SigmaTo - step.SigmaFrom;
        var slope = Buffer(SlopeSlot, step.Sample.Length);
        if (!step.IsSecondEvaluation)
        {
            // 1. Predictor: d_i = (x − x̂₀)/σ_i, kept for the corrector; x̃ = x + (σ_{i+1} − σ_i)·d_i.
            if (fromEpsilon) ElementWise.Apply(new PredictorFromEpsilon(-step.Sigma, step.SigmaFrom, dt), step.Sample, step.ModelOutput, step.Destination, slope);
            else ElementWise.Apply(new Predictor(step.SigmaFrom, dt), step.Sample, step.Denoised, step.Destination, slope);
            return;
        }

        // 2. Corrector: d̃ = (x̃ − D(x̃; σ_{i+1}))/σ_{i+1}; x_{i+1} = x_i + (σ_{i+1} − σ_i)·(d_i + d̃)/2, from the interval's start.
        if (fromEpsilon)
            ElementWise.Apply(new CorrectorFromEpsilon(-step.Sigma, step.SigmaTo, dt), step.Sample, step.ModelOutput, slope, step.IntervalStart, step.Destination);
        else ElementWise.Apply(new Corrector(step.SigmaTo, dt), step.Sample, step.Denoised, slope, step.IntervalStart, step.Destination);
    }

    /// <summary>An ε model's x̂₀ is formed inside the predictor's and the corrector's pass.</summary>
    protected override bool AdvancesFromEpsilon => true;

    // d_i = (x − x̂₀)/σ_i (kept) and x + d_i·dt, in one pass with the reference's roundings.
    private readonly record struct Predictor(float Sigma, float Dt) : ElementWise.IOperator2To2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T x0, out T slope) where T : struct, IFloatVector<T>
        {
            slope = (sample - x0) / Sigma;
            return slope * Dt + sample;
        }
    }

    // ((x̃ − x̂₀)/σ_{i+1} + d_i)/2·dt + x_i, in the reference's order of tensor operations (the halving as ·0.5, exact).
    private readonly record struct Corrector(float SigmaNext, float Dt) : ElementWise.IOperator4
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T predicted, T x0, T slope, T start) where T : struct, IFloatVector<T> =>
            start + (slope + (predicted - x0) / SigmaNext) * 0.5f * Dt;
    }

    // The same two passes from ε: x̂₀ = ε·(−σ) + x first, with the rounding of the x̂₀ tensor it replaces. (Halving is
    // written ·0.5: exact, the same bits as the reference's division by 2, without a division.)
    private readonly record struct PredictorFromEpsilon(float MinusSigma, float Sigma, float Dt) : ElementWise.IOperator2To2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T epsilon, out T slope) where T : struct, IFloatVector<T>
        {
            slope = (sample - (epsilon * MinusSigma + sample)) / Sigma;
            return slope * Dt + sample;
        }
    }

    private readonly record struct CorrectorFromEpsilon(float MinusSigma, float SigmaNext, float Dt) : ElementWise.IOperator4
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T predicted, T epsilon, T slope, T start) where T : struct, IFloatVector<T> =>
            start + (slope + (predicted - (epsilon * MinusSigma + predicted)) / SigmaNext) * 0.5f * Dt;
    }
}
