using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Ddpm;

/// <summary>
/// Ancestral sampling of "Denoising Diffusion Probabilistic Models" (Ho, Jain &amp; Abbeel 2020,
/// https://arxiv.org/abs/2006.11239): x_{t'} ~ q(x_{t'} | x_t, x̂₀), the forward-process posterior around the
/// predicted clean sample, for any subsequence of timesteps t → t'.
/// </summary>
/// <remarks>
/// Defaults as the reference: <c>variance_type</c> fixed_small, <c>clip_sample</c> true, <c>timestep_spacing</c> leading.
/// <c>fixed_large_log</c> takes σ = exp(½·log β), which equals <c>fixed_large</c>; the reference takes the square root
/// of log β there and returns NaN. Learned variances need a network with extra output channels and are refused.
/// </remarks>
public sealed class DdpmSampler : SamplerBase
{
    private readonly VarianceType _varianceType;
    private readonly bool _clipSample;
    // ᾱ_t as the reference holds it (float32); every step coefficient is formed from it in float32.
    private readonly float[] _alphasCumprod;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> for an invalid or unsupported configuration.</summary>
    public DdpmSampler(SchedulerConfig config) : base(SamplerNames.Ddpm, config)
    {
        _varianceType = Config.VarianceType ?? VarianceType.FixedSmall;
        if (_varianceType is VarianceType.Learned or VarianceType.LearnedRange)
            throw new SchedulerConfigException("variance_type", ConfigNames.Quote(ConfigNames.Of(_varianceType)),
                "fixed_small, fixed_small_log, fixed_large or fixed_large_log (learned variances need a network that predicts them)");
        _clipSample = Config.ClipSample ?? true;
        _alphasCumprod = Array.ConvertAll(Float32Schedule.AlphasCumprod(Config), a => (float)a);
    }

    /// <inheritdoc/>
    protected override double[] CreateTimesteps(int numInferenceSteps) => TimestepSpacings.Create(
        Config.TimestepSpacing ?? TimestepSpacing.Leading, Schedule.NumTrainTimesteps, numInferenceSteps, Config.StepsOffset);

    /// <inheritdoc/>
    /// <remarks>
    /// Every scalar is float32, rounded where the reference rounds its 0-dimensional float32 tensors: ᾱ from the float32
    /// table (<see cref="Float32Schedule"/>), 1 − ᾱ, the ratio ᾱ_t/ᾱ_{t'}, each coefficient's product and quotient in the
    /// reference's order, and the square roots. In double the coefficients differ by up to ~10⁻⁷ relative, which over the
    /// reference's own 1000-step test moves Σ|x| from 387.9466 to 387.9672.
    /// </remarks>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        // 1. ᾱ at this timestep and at the next one (ᾱ = 1 after the last step). The listed timestep is used: steps are
        //    tracked by position.
        var t = Timesteps[stepIndex];
        var tPrev = NextTimestep(stepIndex);
        var alphaProd = _alphasCumprod[TrainingIndex(t)];
        var alphaProdPrev = tPrev >= 0 ? _alphasCumprod[TrainingIndex(tPrev)] : 1f;
        var betaProd = 1 - alphaProd;
        var betaProdPrev = 1 - alphaProdPrev;
        // α and β of the jump t → t' (equal to α_t, β_t when consecutive timesteps are visited).
        var currentAlpha = alphaProd / alphaProdPrev;
        var currentBeta = 1 - currentAlpha;

        // 4.–5. Posterior mean μ̃ = (√ᾱ_{t'}·β/(1−ᾱ_t))·x₀ + (√α·(1−ᾱ_{t'})/(1−ᾱ_t))·x_t  (eq. 7).
        var x0Coefficient = MathF.Sqrt(alphaProdPrev) * currentBeta / betaProd;
        var sampleCoefficient = MathF.Sqrt(currentAlpha) * betaProdPrev / betaProd;
        float sqrtAlphaProd = MathF.Sqrt(alphaProd), sqrtBetaProd = MathF.Sqrt(betaProd);
        var std = t > 0 ? StandardDeviation(alphaProd, alphaProdPrev, currentBeta) : 0f;

        // An ε model without dynamic thresholding (the usual case): steps 2–6 in one pass over memory.
        if (Config.PredictionType == PredictionType.Epsilon && !Config.Thresholding)
        {
            var op = new EpsilonUpdate(-sqrtBetaProd, sqrtAlphaProd, _clipSample ? (float)Config.ClipSampleRange : float.PositiveInfinity,
                sampleCoefficient, x0Coefficient, std);
            var store = output.PredictedOriginal;
            if (t > 0)
            {
                // The noise is drawn and added in the same pass (buffer slot 2 only for sources other than TorchGaussianNoise).
                if (store.IsEmpty) ApplyWithNoise(op, noise, 2, input.ModelOutput, input.Sample, output.PrevSample);
                else ApplyWithNoise(op, noise, 2, input.ModelOutput, input.Sample, output.PrevSample, store);
            }
            else if (store.IsEmpty) ElementWise.Apply(op, input.ModelOutput, input.Sample, output.PrevSample);
            else ElementWise.Apply(op, input.ModelOutput, input.Sample, output.PrevSample, store);
            return !store.IsEmpty;
        }

        // 2. Predicted x₀ (eq. 15 for ε-prediction).
        var x0 = output.PredictedOriginal.IsEmpty ? Buffer(0, input.Sample.Length) : output.PredictedOriginal;
        PredictionMath.ToSample(Config.PredictionType, input.ModelOutput, input.Sample, sqrtAlphaProd, sqrtBetaProd, x0);

        // 3. Keep x₀ in the data range.
        if (Config.Thresholding)
            SampleThresholding.Dynamic(x0, input.BatchSize, Config.DynamicThresholdingRatio, Config.SampleMaxValue, Buffer(1, input.Sample.Length / input.BatchSize));
        else if (_clipSample)
            SampleThresholding.Clip(x0, Config.ClipSampleRange);

        // 6. Plus noise with the chosen variance, except at t = 0 where the posterior is a point.
        if (t > 0)
        {
            var z = Buffer(2, input.Sample.Length);
            noise.NextGaussian(z);
            PredictionMath.Combine(sampleCoefficient, input.Sample, x0Coefficient, x0, std, z, output.PrevSample);
        }
        else
        {
            PredictionMath.Combine(sampleCoefficient, input.Sample, x0Coefficient, x0, output.PrevSample);
        }
        return !output.PredictedOriginal.IsEmpty;
    }

    /// <inheritdoc/>
    /// <remarks>√ᾱ_t and √(1 − ᾱ_t) in float32 from the float32 table, as the reference's add-noise forms them.</remarks>
    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        var itemLength = CheckAddNoise(original, noise, timesteps, destination);
        for (var b = 0; b < timesteps.Length; b++)
        {
            var alphaProd = _alphasCumprod[TrainingIndex(timesteps[b])];
            var range = new Range(b * itemLength, (b + 1) * itemLength);
            PredictionMath.Combine(MathF.Sqrt(alphaProd), original[range], MathF.Sqrt(1 - alphaProd), noise[range], destination[range]);
        }
    }

    // The standard deviation of the noise, in float32 as the reference's _get_variance and its square root.
    private float StandardDeviation(float alphaProd, float alphaProdPrev, float currentBeta)
    {
        // β̃ = (1−ᾱ_{t'})/(1−ᾱ_t)·β, the posterior variance (eq. 7), clipped away from 0.
        var posterior = Math.Max((1 - alphaProdPrev) / (1 - alphaProd) * currentBeta, (float)NoiseSchedule.PosteriorVarianceFloor);
        return _varianceType switch
        {
            VarianceType.FixedSmall => MathF.Sqrt(posterior),
            VarianceType.FixedSmallLog => ReferenceFloat32.TorchExp(0.5f * ReferenceFloat32.TorchLog(posterior)),
            VarianceType.FixedLarge => MathF.Sqrt(currentBeta),
            VarianceType.FixedLargeLog => ReferenceFloat32.TorchExp(0.5f * ReferenceFloat32.TorchLog(currentBeta)),
            _ => throw new InvalidOperationException("Unreachable: learned variances are refused by the constructor."),
        };
    }

    // x̂₀ = clamp((ε·(−σ) + x)/α); x' = (x·a + x̂₀·b) [+ z·c] (PredictionMath.Combine's order); x̂₀ is the second result.
    private readonly record struct EpsilonUpdate(float MinusSigma, float Alpha, float Range, float A, float B, float C)
        : ElementWise.IOperator2, ElementWise.IOperator2To2, ElementWise.IOperator3, ElementWise.IOperator3To2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T epsilon, T sample) where T : struct, IFloatVector<T> => Invoke(epsilon, sample, out _);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T epsilon, T sample, out T x0) where T : struct, IFloatVector<T>
        {
            x0 = PredictionMath.ClampedSampleFromEpsilon(epsilon, sample, MinusSigma, Alpha, Range);
            return sample * A + x0 * B;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T epsilon, T sample, T z) where T : struct, IFloatVector<T> => Invoke(epsilon, sample, z, out _);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T epsilon, T sample, T z, out T x0) where T : struct, IFloatVector<T>
        {
            x0 = PredictionMath.ClampedSampleFromEpsilon(epsilon, sample, MinusSigma, Alpha, Range);
            return sample * A + x0 * B + z * C;
        }
    }
}
