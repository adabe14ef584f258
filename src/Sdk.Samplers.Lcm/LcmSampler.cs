using System.Globalization;
using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Lcm;

/// <summary>
/// Multistep sampling of a latent consistency model ("Latent Consistency Models", Luo et al. 2023,
/// https://arxiv.org/abs/2310.04378, Algorithm 1 / eq. 9). The distilled network is a consistency function
/// f_θ(x, t) = c_skip(t)·x + c_out(t)·x̂₀(x, t), which maps any point of a probability-flow trajectory to its origin; the
/// boundary scalings c_skip = σ_d²/((s·t)² + σ_d²) and c_out = s·t/√((s·t)² + σ_d²), with σ_d = 0.5 and s =
/// <c>timestep_scaling</c>, make f the identity at t = 0 (Consistency Models, Song et al. 2023, eq. 3 and appendix C).
/// Each step denoises, f = f_θ(x_t, t), and noises the result afresh to the next timestep,
/// x_{t'} = √ᾱ_{t'}·f + √(1−ᾱ_{t'})·z; the last step returns f itself.
/// </summary>
/// <remarks>
/// <para>
/// Defaults as the reference (LCMScheduler): <c>original_inference_steps</c> 50, <c>timestep_scaling</c> 10,
/// <c>clip_sample</c> false, <c>set_alpha_to_one</c> true; timesteps from the distillation schedule
/// (<see cref="ConsistencyTimesteps"/>), so at most <c>original_inference_steps</c> steps. Betas the
/// configuration leaves out take the class's own defaults, the Stable Diffusion schedule (scaled_linear 0.00085 … 0.012,
/// <see cref="ClassBetaDefaults.Consistency"/>); those it gives are used.
/// </para>
/// <para>
/// x̂₀ is clipped or dynamically thresholded when the configuration asks. The step reports f (the reference's
/// <c>denoised</c>), the model's estimate of the clean sample, as its predicted x₀.
/// </para>
/// </remarks>
public sealed class LcmSampler : SamplerBase, IStrengthScheduledSampler
{
    /// <summary>σ_d, the data standard deviation the boundary scalings assume (the reference's fixed 0.5).</summary>
    public const double SigmaData = 0.5;

    private const int X0Slot = 0, NoiseSlot = 1, ThresholdSlot = 2;

    private readonly int _originalSteps;
    private readonly double _timestepScaling, _finalAlphaCumprod;
    private readonly bool _clipSample;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> naming the key for an invalid configuration.</summary>
    public LcmSampler(SchedulerConfig config) : base(SamplerNames.Lcm, ClassBetaDefaults.Consistency(config))
    {
        _originalSteps = ConsistencyTimesteps.OriginalSteps(Config);
        _timestepScaling = Config.TimestepScaling ?? 10.0;
        if (!(_timestepScaling > 0) || !double.IsFinite(_timestepScaling))
            throw new SchedulerConfigException("timestep_scaling", _timestepScaling.ToString("R", CultureInfo.InvariantCulture), "a finite number > 0");
        _finalAlphaCumprod = (Config.SetAlphaToOne ?? true) ? 1.0 : Schedule.AlphasCumprod[0];
        _clipSample = Config.ClipSample ?? false;
    }

    /// <summary>The boundary-condition scalings (c_skip, c_out) of the consistency function at a training timestep.</summary>
    public (double Skip, double Out) BoundaryScalings(double timestep)
    {
        var scaled = timestep * _timestepScaling;
        var denominator = scaled * scaled + SigmaData * SigmaData;
        return (SigmaData * SigmaData / denominator, scaled / Math.Sqrt(denominator));
    }

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

        // 1. ᾱ at this timestep and the next (ᾱ "before" the first training step after a list that runs out at 0).
        var t = input.Timestep;
        var alphaProd = Schedule.AlphasCumprod[TrainingIndex(t)];
        var alphaProdPrev = last ? 1.0 : AlphaCumprodOrFinal(NextTimestep(stepIndex), _finalAlphaCumprod);
        double alpha = Math.Sqrt(alphaProd), sigma = Math.Sqrt(1 - alphaProd);

        // 2. The boundary scalings at t (Consistency Models, eq. 3's parameterisation).
        var (skip, scale) = BoundaryScalings(t);

        // 3. x̂₀ from the network. Clipping and dynamic thresholding need it in a pass of its own (thresholding takes a
        //    per-item quantile); otherwise the conversion happens inside the update's pass.
        ReadOnlySpan<float> source = input.ModelOutput;
        var toX0 = PredictionFormula.ToSample(Config.PredictionType, alpha, sigma);
        if (Config.Thresholding || _clipSample)
        {
            var x0 = Buffer(X0Slot, n);
            PredictionMath.ToSample(Config.PredictionType, input.ModelOutput, input.Sample, alpha, sigma, x0);
            if (Config.Thresholding)
                SampleThresholding.Dynamic(x0, input.BatchSize, Config.DynamicThresholdingRatio, Config.SampleMaxValue, Buffer(ThresholdSlot, n / input.BatchSize));
            else
                SampleThresholding.Clip(x0, Config.ClipSampleRange);
            source = x0;
            toX0 = new PredictionFormula(1f, 0f, 1f);
        }

        // 4. f = c_out·x̂₀ + c_skip·x_t, then x_{t'} = √ᾱ_{t'}·f + √(1−ᾱ_{t'})·z; the last step (and a one-step run)
        //    returns f without noise. With x̂₀ = (m·A + x·B)/D, f is linear in the model output m and x_t:
        //    f = m·(A·c_out/D) + x·(B·c_out/D + c_skip), which spares the division.
        var update = new Update((float)(toX0.A * scale / toX0.D), (float)(toX0.B * scale / toX0.D + skip),
            (float)Math.Sqrt(alphaProdPrev), (float)Math.Sqrt(1 - alphaProdPrev));
        var wrote = !output.PredictedOriginal.IsEmpty;
        if (last)
        {
            ElementWise.Apply(update, source, input.Sample, output.PrevSample);
            if (wrote) output.PrevSample.CopyTo(output.PredictedOriginal);
            return wrote;
        }
        // The noise is drawn and added in the same pass (the buffer only for sources other than TorchGaussianNoise).
        if (wrote) ApplyWithNoise(update, noise, NoiseSlot, source, input.Sample, output.PrevSample, output.PredictedOriginal);
        else ApplyWithNoise(update, noise, NoiseSlot, source, input.Sample, output.PrevSample);
        return wrote;
    }

    // f = m·Fm + x·Fx; x_{t'} = f·√ᾱ_{t'} + z·√(1−ᾱ_{t'}).
    private readonly record struct Update(float Fm, float Fx, float Signal, float Noise)
        : ElementWise.IOperator2, ElementWise.IOperator3, ElementWise.IOperator3To2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T modelOutput, T sample) where T : struct, IFloatVector<T> => modelOutput * Fm + sample * Fx;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T modelOutput, T sample, T z) where T : struct, IFloatVector<T> =>
            (modelOutput * Fm + sample * Fx) * Signal + z * Noise;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T modelOutput, T sample, T z, out T denoised) where T : struct, IFloatVector<T>
        {
            denoised = modelOutput * Fm + sample * Fx;
            return denoised * Signal + z * Noise;
        }
    }
}
