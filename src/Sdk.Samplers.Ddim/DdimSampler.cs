using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Ddim;

/// <summary>
/// "Denoising Diffusion Implicit Models" (Song, Meng &amp; Ermon 2021, https://arxiv.org/abs/2010.02502), eq. 12:
/// x_{t'} = √ᾱ_{t'}·x̂₀ + √(1−ᾱ_{t'}−σ²)·ε̂ + σ·z, with σ = η·√((1−ᾱ_{t'})/(1−ᾱ_t))·√(1−ᾱ_t/ᾱ_{t'}) (eq. 16).
/// η = 0 gives the deterministic sampler, η = 1 the DDPM posterior variance.
/// </summary>
/// <remarks>
/// Defaults as the reference: <c>clip_sample</c> true, <c>set_alpha_to_one</c> true, <c>timestep_spacing</c> leading,
/// η = 0 (<see cref="SchedulerConfig.Eta"/>). With a step count, the next timestep is t − T // n, as in the reference
/// (for <c>trailing</c> spacing this can differ by one from the listed next timestep); with an explicit list it is
/// the list's next entry.
/// </remarks>
public sealed class DdimSampler : SamplerBase
{
    private readonly double _finalAlphaCumprod;
    private readonly bool _clipSample;
    private readonly double _eta;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> for an invalid configuration.</summary>
    public DdimSampler(SchedulerConfig config) : base(SamplerNames.Ddim, config)
    {
        // ᾱ "before" the first training step: 1 (a clean image) or ᾱ_0, as set_alpha_to_one says.
        _finalAlphaCumprod = (Config.SetAlphaToOne ?? true) ? 1.0 : Schedule.AlphasCumprod[0];
        _clipSample = Config.ClipSample ?? true;
        _eta = Config.Eta ?? 0.0;
    }

    /// <inheritdoc/>
    protected override double[] CreateTimesteps(int numInferenceSteps) => TimestepSpacings.Create(
        Config.TimestepSpacing ?? TimestepSpacing.Leading, Schedule.NumTrainTimesteps, numInferenceSteps, Config.StepsOffset);

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        var n = input.Sample.Length;

        // 1. The previous timestep t'.
        var t = input.Timestep;
        var tPrev = NumInferenceSteps is { } count ? t - Schedule.NumTrainTimesteps / count : NextTimestep(stepIndex);

        // 2. ᾱ_t and ᾱ_{t'}.
        var alphaProd = Schedule.AlphasCumprod[TrainingIndex(t)];
        var alphaProdPrev = AlphaCumprodOrFinal(tPrev, _finalAlphaCumprod);
        var betaProd = 1 - alphaProd;
        double alpha = Math.Sqrt(alphaProd), sigma = Math.Sqrt(betaProd);

        // An ε model without dynamic thresholding (the usual case): steps 3–8 below in one pass over memory.
        if (Config.PredictionType == PredictionType.Epsilon && !Config.Thresholding)
        {
            StepEpsilon(input, output, noise, alpha, sigma, alphaProd, alphaProdPrev, betaProd);
            return !output.PredictedOriginal.IsEmpty;
        }

        // 3. Predicted x₀ and ε (eq. 12's "predicted x₀" and the noise it implies).
        var x0 = output.PredictedOriginal.IsEmpty ? Buffer(0, n) : output.PredictedOriginal;
        PredictionMath.ToSample(Config.PredictionType, input.ModelOutput, input.Sample, alpha, sigma, x0);
        ReadOnlySpan<float> epsilon = input.ModelOutput;
        if (Config.PredictionType != PredictionType.Epsilon)
        {
            var converted = Buffer(1, n);
            PredictionMath.ToEpsilon(Config.PredictionType, input.ModelOutput, input.Sample, alpha, sigma, converted);
            epsilon = converted;
        }

        // 4. Keep x₀ in the data range (ε stays the model's, as the reference does by default).
        if (Config.Thresholding)
            SampleThresholding.Dynamic(x0, input.BatchSize, Config.DynamicThresholdingRatio, Config.SampleMaxValue, Buffer(2, n / input.BatchSize));
        else if (_clipSample)
            SampleThresholding.Clip(x0, Config.ClipSampleRange);

        // 5. σ_t of eq. 16, scaled by η.
        var variance = (1 - alphaProdPrev) / betaProd * (1 - alphaProd / alphaProdPrev);
        var std = _eta * Math.Sqrt(variance);

        // 6.–8. x_{t'} = √ᾱ_{t'}·x̂₀ + √(1−ᾱ_{t'}−σ²)·ε̂  (the "direction pointing to x_t"), plus fresh noise σ·z when η > 0.
        var direction = Math.Sqrt(Math.Max(1 - alphaProdPrev - std * std, 0));
        if (_eta > 0)
        {
            var z = Buffer(3, n);
            noise.NextGaussian(z);
            PredictionMath.Combine((float)Math.Sqrt(alphaProdPrev), x0, (float)direction, epsilon, (float)std, z, output.PrevSample);
        }
        else
        {
            PredictionMath.Combine((float)Math.Sqrt(alphaProdPrev), x0, (float)direction, epsilon, output.PrevSample);
        }
        return !output.PredictedOriginal.IsEmpty;
    }

    /// <summary>
    /// Steps 3–8 for an ε model in one pass: x̂₀ = clamp((x − σ·ε)/α) (clamped only with <c>clip_sample</c>), then
    /// x_{t'} = √ᾱ_{t'}·x̂₀ + √(1−ᾱ_{t'}−σ²)·ε [+ σ·z], with the scalars and roundings of the general path.
    /// </summary>
    private void StepEpsilon(in StepInput input, in StepOutput output, INoiseSource noise, double alpha, double sigma, double alphaProd, double alphaProdPrev, double betaProd)
    {
        var variance = (1 - alphaProdPrev) / betaProd * (1 - alphaProd / alphaProdPrev);
        var std = _eta * Math.Sqrt(variance);
        var direction = Math.Sqrt(Math.Max(1 - alphaProdPrev - std * std, 0));
        var op = new EpsilonUpdate((float)-sigma, (float)alpha, _clipSample ? (float)Config.ClipSampleRange : float.PositiveInfinity,
            (float)Math.Sqrt(alphaProdPrev), (float)direction, (float)std);
        var x0 = output.PredictedOriginal;
        if (_eta > 0)
        {
            // The noise is drawn and added in the same pass (buffer slot 3 only for sources other than TorchGaussianNoise).
            if (x0.IsEmpty) ApplyWithNoise(op, noise, 3, input.ModelOutput, input.Sample, output.PrevSample);
            else ApplyWithNoise(op, noise, 3, input.ModelOutput, input.Sample, output.PrevSample, x0);
        }
        else
        {
            if (x0.IsEmpty) ElementWise.Apply(op, input.ModelOutput, input.Sample, output.PrevSample);
            else ElementWise.Apply(op, input.ModelOutput, input.Sample, output.PrevSample, x0);
        }
    }

    // x̂₀ = clamp((ε·(−σ) + x)/α); x' = x̂₀·a + ε·b [+ z·c] (PredictionMath.Combine's order); x̂₀ is the second result.
    private readonly record struct EpsilonUpdate(float MinusSigma, float Alpha, float Range, float A, float B, float C)
        : ElementWise.IOperator2, ElementWise.IOperator2To2, ElementWise.IOperator3, ElementWise.IOperator3To2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T epsilon, T sample) where T : struct, IFloatVector<T> => Invoke(epsilon, sample, out _);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T epsilon, T sample, out T x0) where T : struct, IFloatVector<T>
        {
            x0 = PredictionMath.ClampedSampleFromEpsilon(epsilon, sample, MinusSigma, Alpha, Range);
            return x0 * A + epsilon * B;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T epsilon, T sample, T z) where T : struct, IFloatVector<T> => Invoke(epsilon, sample, z, out _);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T epsilon, T sample, T z, out T x0) where T : struct, IFloatVector<T>
        {
            x0 = PredictionMath.ClampedSampleFromEpsilon(epsilon, sample, MinusSigma, Alpha, Range);
            return x0 * A + epsilon * B + z * C;
        }
    }
}
