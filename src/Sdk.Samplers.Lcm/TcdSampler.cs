using System.Globalization;
using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Lcm;

/// <summary>
/// Strategic stochastic sampling of a trajectory-consistency-distilled model ("Trajectory Consistency Distillation",
/// Zheng et al. 2024, https://arxiv.org/abs/2402.19159, §4.3 and Algorithm 4). The network's trajectory consistency
/// function maps x_t to any earlier point of its trajectory; from t the step goes to the intermediate timestep
/// s = ⌊(1 − γ)·t'⌋ short of the next timestep t', the DDIM-like point
/// x̂_s = √ᾱ_s·x̂₀ + √(1−ᾱ_s)·ε̂ (the reference's <c>pred_noised_sample</c>), and then forward-diffuses it to t' with
/// fresh noise, x_{t'} = √(ᾱ_{t'}/ᾱ_s)·x̂_s + √(1 − ᾱ_{t'}/ᾱ_s)·z. γ = 0 is deterministic (s = t', DDIM's update);
/// γ = 1 is the multistep consistency sampler (s = 0).
/// </summary>
/// <remarks>
/// <para>
/// γ is <see cref="SchedulerConfig.Eta"/> (the reference's per-step <c>eta</c>, default 0.3), in [0, 1]. Timesteps as
/// LCM (<see cref="ConsistencyTimesteps"/>, <c>original_inference_steps</c> 50). As in the reference: s is computed in
/// float32 (so ⌊0.2·125⌋ is 25, not the 24 of exact arithmetic for γ = 0.8); the last step goes to t' = 0, so it
/// returns x̂ noised to training step 0 rather than x̂₀, and draws no noise; <c>clip_sample</c> and <c>thresholding</c>
/// are accepted and have no effect (the reference's step does not apply them; use the thresholding wrapper).
/// </para>
/// <para>The step reports the network's x̂₀ as its predicted x₀.</para>
/// </remarks>
public sealed class TcdSampler : SamplerBase, IStrengthScheduledSampler
{
    /// <summary>γ when the configuration gives none (the reference's default <c>eta</c>).</summary>
    public const double DefaultGamma = 0.3;

    private const int NoiseSlot = 0;

    private readonly int _originalSteps;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> naming the key for an invalid configuration.</summary>
    public TcdSampler(SchedulerConfig config) : base(SamplerNames.Tcd, ClassBetaDefaults.Consistency(config))
    {
        _originalSteps = ConsistencyTimesteps.OriginalSteps(Config);
        Gamma = Config.Eta ?? DefaultGamma;
        if (!(Gamma >= 0 && Gamma <= 1))
            throw new SchedulerConfigException("eta", Gamma.ToString("R", CultureInfo.InvariantCulture), "a number in [0, 1] (TCD's γ: 0 deterministic, 1 fully stochastic)");
    }

    /// <summary>γ, the share of each interval that is re-noised (0: deterministic).</summary>
    public double Gamma { get; }

    /// <summary>The intermediate timestep s = ⌊(1 − γ)·t'⌋ before <paramref name="nextTimestep"/> t', in the reference's float32 arithmetic.</summary>
    public int IntermediateTimestep(double nextTimestep) => (int)MathF.Floor((float)(1 - Gamma) * (float)nextTimestep);

    /// <inheritdoc/>
    protected override double[] CreateTimesteps(int numInferenceSteps) =>
        ConsistencyTimesteps.Create(Schedule.NumTrainTimesteps, _originalSteps, numInferenceSteps);

    /// <inheritdoc/>
    public void SetTimesteps(int numInferenceSteps, double strength)
    {
        if (numInferenceSteps < 1)
            throw new SchedulerConfigException("num_inference_steps", numInferenceSteps.ToString(CultureInfo.InvariantCulture), "an integer >= 1");
        ReplaceTimesteps(ConsistencyTimesteps.Create(Schedule.NumTrainTimesteps, _originalSteps, numInferenceSteps, strength));
    }

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        var n = input.Sample.Length;
        var last = stepIndex == Timesteps.Count - 1;

        // 1. The next timestep t' (0 after the last) and the intermediate one s.
        var next = last ? 0 : NextTimestep(stepIndex);
        var s = IntermediateTimestep(next);

        // 2. ᾱ at t, t' and s.
        var alphaProd = Schedule.AlphasCumprod[TrainingIndex(input.Timestep)];
        var alphaProdPrev = Schedule.AlphasCumprod[TrainingIndex(next)];
        var alphaProdS = Schedule.AlphasCumprod[TrainingIndex(s)];
        double alpha = Math.Sqrt(alphaProd), sigma = Math.Sqrt(1 - alphaProd);

        // 3. x̂_s = √ᾱ_s·x̂₀ + √(1−ᾱ_s)·ε̂, from x̂₀ and ε̂ of the network (the trajectory consistency function to s).
        //    x̂₀ = (m·A₀ + x·B₀)/D₀ and ε̂ = (m·A₁ + x·B₁)/D₁ make x̂_s linear in the model output m and x_t: m·P + x·Q.
        var toX0 = PredictionFormula.ToSample(Config.PredictionType, alpha, sigma);
        var toEpsilon = PredictionFormula.ToEpsilon(Config.PredictionType, alpha, sigma);
        double signalS = Math.Sqrt(alphaProdS), noiseS = Math.Sqrt(1 - alphaProdS);
        var update = new Update(toX0,
            (float)(toX0.A / toX0.D * signalS + toEpsilon.A / toEpsilon.D * noiseS), (float)(toX0.B / toX0.D * signalS + toEpsilon.B / toEpsilon.D * noiseS),
            (float)Math.Sqrt(alphaProdPrev / alphaProdS), (float)Math.Sqrt(1 - alphaProdPrev / alphaProdS));

        // 4. Forward to t' with fresh noise (γ > 0, all but the last step); otherwise x̂_s is the next sample.
        var wrote = !output.PredictedOriginal.IsEmpty;
        if (Gamma > 0 && !last)
        {
            // The noise is drawn and added in the same pass (the buffer only for sources other than TorchGaussianNoise).
            if (wrote) ApplyWithNoise(update, noise, NoiseSlot, input.ModelOutput, input.Sample, output.PrevSample, output.PredictedOriginal);
            else ApplyWithNoise(update, noise, NoiseSlot, input.ModelOutput, input.Sample, output.PrevSample);
            return wrote;
        }
        // x̂₀ first: the output may be the input sample's memory.
        if (wrote) PredictionMath.ToSample(Config.PredictionType, input.ModelOutput, input.Sample, alpha, sigma, output.PredictedOriginal);
        ElementWise.Apply(update, input.ModelOutput, input.Sample, output.PrevSample);
        return wrote;
    }

    // x̂_s = x̂₀·√ᾱ_s + ε̂·√(1−ᾱ_s) = m·P + x·Q; x_{t'} = x̂_s·√(ᾱ_{t'}/ᾱ_s) + z·√(1−ᾱ_{t'}/ᾱ_s).
    private readonly record struct Update(PredictionFormula ToX0, float P, float Q, float Signal, float Noise)
        : ElementWise.IOperator2, ElementWise.IOperator3, ElementWise.IOperator3To2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T modelOutput, T sample) where T : struct, IFloatVector<T> => modelOutput * P + sample * Q;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T modelOutput, T sample, T z) where T : struct, IFloatVector<T> =>
            Invoke(modelOutput, sample) * Signal + z * Noise;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T modelOutput, T sample, T z, out T x0) where T : struct, IFloatVector<T>
        {
            x0 = ToX0.Invoke(modelOutput, sample);
            return (modelOutput * P + sample * Q) * Signal + z * Noise;
        }
    }
}
