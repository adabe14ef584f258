using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Ddim;

/// <summary>
/// DDIM inversion (Song et al. 2021, https://arxiv.org/abs/2010.02502, §4.3; as used by Mokady et al. 2023 for
/// editing): the deterministic DDIM update run backwards, from a clean sample to the noise that DDIM would turn into
/// it, as the reference's <c>DDIMInverseScheduler</c>. The timesteps ascend; the step at t goes from the noise level of
/// t − T/n (ᾱ = 1, or ᾱ₀ without <c>set_alpha_to_one</c>, below training step 0) to that of t.
/// </summary>
/// <remarks>
/// Defaults as the reference: <c>clip_sample</c> true (±<c>clip_sample_range</c>), <c>set_alpha_to_one</c> true,
/// <c>timestep_spacing</c> leading (or trailing). ᾱ and every coefficient are float32, as the reference's tensors.
/// The reference has no add-noise; this sampler's is the variance-preserving forward process at its float32 ᾱ.
/// </remarks>
public sealed class DdimInverseSampler : SamplerBase
{
    private readonly double[] _alphasCumprod;
    private readonly float _initialAlphaCumprod;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> for an invalid configuration.</summary>
    public DdimInverseSampler(SchedulerConfig config) : base(SamplerNames.DdimInverse, config)
    {
        if (Config.TimestepSpacing == TimestepSpacing.Linspace)
            throw new SchedulerConfigException("timestep_spacing", "\"linspace\"", ConfigNames.OneOf(["leading", "trailing"]) + " (the reference's DDIM inversion has no linspace)");
        _alphasCumprod = Float32Schedule.AlphasCumprod(Config);
        _initialAlphaCumprod = Config.SetAlphaToOne ?? true ? 1f : (float)_alphasCumprod[0];
    }

    /// <summary>Explicit lists are not offered (the reference takes only a count).</summary>
    public override bool AcceptsExplicitTimesteps => false;

    /// <summary>Ascending: leading (0 … n−1)·(T // n) + steps_offset, or trailing round(T, T − T/n, …)·reversed − 1.</summary>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        int train = Schedule.NumTrainTimesteps;
        var timesteps = new double[numInferenceSteps];
        if ((Config.TimestepSpacing ?? TimestepSpacing.Leading) == TimestepSpacing.Leading)
        {
            var ratio = train / numInferenceSteps;
            for (var k = 0; k < numInferenceSteps; k++) timesteps[k] = k * ratio + Config.StepsOffset;
        }
        else
        {
            // np.arange(T, 0, −T/n) reversed: the descending trailing points, ascending.
            // numpy's length ceil((0 − T)/(−T/n)), its values T + k·(−T/n).
            var ratio = (double)train / numInferenceSteps;
            var count = (int)Math.Ceiling((0.0 - train) / -ratio);
            timesteps = new double[count];
            for (var k = 0; k < count; k++) timesteps[count - 1 - k] = Math.Round(train + k * -ratio, MidpointRounding.ToEven) - 1;
        }
        foreach (var t in timesteps)
            if (t < 0 || t >= train)
                throw new SchedulerConfigException("steps_offset", Config.StepsOffset.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    $"a value that keeps every timestep within [0, {train - 1}] ({numInferenceSteps} steps reach {Format(t)})");
        return timesteps;
    }

    /// <summary>The variance-preserving forward process √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε at the float32 ᾱ.</summary>
    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        var itemLength = CheckAddNoise(original, noise, timesteps, destination);
        for (var b = 0; b < timesteps.Length; b++)
        {
            var alphaBar = (float)_alphasCumprod[TrainingIndex(timesteps[b])];
            var range = new Range(b * itemLength, (b + 1) * itemLength);
            PredictionMath.Combine(MathF.Sqrt(alphaBar), original[range], MathF.Sqrt(1 - alphaBar), noise[range], destination[range]);
        }
    }

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        int train = Schedule.NumTrainTimesteps, target = TrainingIndex(input.Timestep);
        // 1. The level the step starts from: T // n below the target (the count of the last SetTimesteps).
        var source = Math.Min(target - train / (NumInferenceSteps ?? Timesteps.Count), train - 1);
        var alphaBar = source >= 0 ? (float)_alphasCumprod[source] : _initialAlphaCumprod;
        var alphaBarNext = (float)_alphasCumprod[target];

        // 2. The float32 scalars: √ᾱ, √(1 − ᾱ) at both ends.
        float a = MathF.Sqrt(alphaBar), b = MathF.Sqrt(1 - alphaBar);
        float aNext = MathF.Sqrt(alphaBarNext), bNext = MathF.Sqrt(1 - alphaBarNext);
        var range = Config.ClipSample ?? true ? (float)Config.ClipSampleRange : float.PositiveInfinity;

        // 3. x̂₀ and ε̂ from the prediction type, x̂₀ clipped; 4. x' = √ᾱ'·x̂₀ + √(1 − ᾱ')·ε̂.
        var op = new InverseUpdate(Config.PredictionType, a, b, aNext, bNext, range);
        if (output.PredictedOriginal.IsEmpty) ElementWise.Apply(op, input.ModelOutput, input.Sample, output.PrevSample);
        else ElementWise.Apply(op, input.ModelOutput, input.Sample, output.PrevSample, output.PredictedOriginal);
        return !output.PredictedOriginal.IsEmpty;
    }

    // The reference's tensor operations in order: ε: x̂₀ = (x − b·F)/a; x₀: ε̂ = (x − a·x̂₀)/b; v: x̂₀ = a·x − b·F, ε̂ = a·F + b·x.
    private readonly record struct InverseUpdate(PredictionType Type, float A, float B, float ANext, float BNext, float Range)
        : ElementWise.IOperator2, ElementWise.IOperator2To2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T output, T sample) where T : struct, IFloatVector<T> => Invoke(output, sample, out _);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T output, T sample, out T x0) where T : struct, IFloatVector<T>
        {
            T epsilon;
            switch (Type)
            {
                case PredictionType.Epsilon:
                    x0 = (sample - B * output) / A;
                    epsilon = output;
                    break;
                case PredictionType.Sample:
                    x0 = output;
                    epsilon = (sample - A * output) / B;
                    break;
                default:
                    x0 = A * sample - B * output;
                    epsilon = A * output + B * sample;
                    break;
            }
            if (float.IsFinite(Range)) x0 = T.MinNative(T.MaxNative(x0, T.Create(-Range)), T.Create(Range));
            return ANext * x0 + BNext * epsilon;
        }
    }
}
