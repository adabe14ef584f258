using System.Globalization;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>How <see cref="ThresholdingWrapper"/> limits the predicted x₀.</summary>
public enum ThresholdingMode
{
    /// <summary>Clamp x₀ to [−range, range].</summary>
    Static,
    /// <summary>Imagen's dynamic thresholding: per item, s = quantile(|x₀|, p) limited to [1, max]; x₀ ← clamp(x₀, −s, s)/s.</summary>
    Dynamic,
}

/// <summary>
/// Keeps the predicted x₀ in the data range around any sampler. A sampler's step sees only the model output, so the
/// wrapper goes through x₀: it converts the output to x₀ with the sampler's schedule and prediction type at the
/// step's noise level (in the variance-preserving terms of <see cref="ISampler.ScaleModelInput"/>), limits x₀
/// with the same <see cref="SampleThresholding"/> math the samplers' own <c>thresholding</c>/<c>clip_sample</c> keys
/// use, and converts back to an output of the same kind. Every sampler then steps with an x₀ inside the range.
/// </summary>
/// <remarks>
/// Converting an adjusted x₀ back to ε divides by √(1−ᾱ), which is small only at the very last steps of a
/// variance-preserving schedule (0.01 at t = 0 of the common linear one) — where x₀ barely moves.
/// </remarks>
public sealed class ThresholdingWrapper : ModelOutputAdjuster
{
    private float[]? _scaled, _x0, _epsilon, _scratch;

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    /// <param name="inner">The sampler.</param>
    /// <param name="mode">Static clipping or dynamic thresholding.</param>
    /// <param name="ratio">Dynamic: the quantile p of |x₀|, in (0, 1].</param>
    /// <param name="maxValue">Dynamic: the largest threshold s. Static: the clipping range.</param>
    public ThresholdingWrapper(ISampler inner, ThresholdingMode mode, double ratio = 0.995, double maxValue = 1.0) : base(inner)
    {
        if (!(ratio > 0 && ratio <= 1))
            throw new SchedulerConfigException("dynamic_thresholding_ratio", ratio.ToString("R", CultureInfo.InvariantCulture), "a number in (0, 1]");
        if (!(maxValue > 0) || !double.IsFinite(maxValue))
            throw new SchedulerConfigException(mode == ThresholdingMode.Static ? "clip_sample_range" : "sample_max_value", maxValue.ToString("R", CultureInfo.InvariantCulture), "a finite number > 0");
        Mode = mode;
        Ratio = ratio;
        MaxValue = maxValue;
    }

    /// <summary>Static or dynamic.</summary>
    public ThresholdingMode Mode { get; }

    /// <summary>The quantile p (dynamic mode).</summary>
    public double Ratio { get; }

    /// <summary>The largest threshold (dynamic) or the clipping range (static).</summary>
    public double MaxValue { get; }

    /// <summary>Raised after x₀ is limited, with the limited x₀ (for inspection and tests).</summary>
    public event SpanAction<float, double>? PredictedOriginalLimited;

    /// <summary>A callback that receives a read-only view of a tensor and the timestep.</summary>
    public delegate void SpanAction<T, TArg>(ReadOnlySpan<T> values, TArg arg);

    /// <inheritdoc/>
    protected override bool IsActive => true;

    /// <inheritdoc/>
    protected override void Adjust(in StepInput input, Span<float> modelOutput, INoiseSource noise)
    {
        var n = modelOutput.Length;
        if (SamplerDecorator.Unwrap(Inner) is IDenoisedOutputMapping mapping)
        {
            AdjustThroughMapping(mapping, input, modelOutput);
            return;
        }
        var type = Config.PredictionType;
        var alphaBar = NoiseLevels.AlphaBarAt(Inner, input.Timestep);
        double alpha = Math.Sqrt(alphaBar), sigma = Math.Sqrt(1 - alphaBar);

        // 1. x_t in variance-preserving terms, as the network saw it.
        var xt = Reuse(ref _scaled, n);
        Inner.ScaleModelInput(input.Sample, input.Timestep, xt);

        // 2. x₀ from the output, limited to the range.
        var x0 = Reuse(ref _x0, n);
        PredictionMath.ToSample(type, modelOutput, xt, alpha, sigma, x0);
        if (Mode == ThresholdingMode.Dynamic)
            SampleThresholding.Dynamic(x0, input.ItemCount("Dynamic thresholding"), Ratio, MaxValue, Reuse(ref _scratch, n / input.BatchSize));
        else
            SampleThresholding.Clip(x0, MaxValue);
        PredictedOriginalLimited?.Invoke(x0, input.Timestep);

        // 3. Back to the kind of output the sampler expects: ε = (x_t − α·x₀)/σ, v = α·ε − σ·x₀.
        switch (type)
        {
            case PredictionType.Sample:
                x0.CopyTo(modelOutput);
                break;
            case PredictionType.Epsilon:
                PredictionMath.ToEpsilon(PredictionType.Sample, x0, xt, alpha, sigma, modelOutput);
                break;
            case PredictionType.VPrediction:
                var epsilon = Reuse(ref _epsilon, n);
                PredictionMath.ToEpsilon(PredictionType.Sample, x0, xt, alpha, sigma, epsilon);
                PredictionMath.ToVelocity(epsilon, x0, alpha, sigma, modelOutput);
                break;
        }
    }

    // A sampler that maps its own output to x̂₀ and back (EDM's F, a flow's velocity): limit x̂₀ between the two maps.
    private void AdjustThroughMapping(IDenoisedOutputMapping mapping, in StepInput input, Span<float> modelOutput)
    {
        var n = modelOutput.Length;
        var x0 = Reuse(ref _x0, n);
        mapping.ToDenoised(input.Timestep, input.Sample, modelOutput, x0);
        if (Mode == ThresholdingMode.Dynamic)
            SampleThresholding.Dynamic(x0, input.ItemCount("Dynamic thresholding"), Ratio, MaxValue, Reuse(ref _scratch, n / input.BatchSize));
        else
            SampleThresholding.Clip(x0, MaxValue);
        PredictedOriginalLimited?.Invoke(x0, input.Timestep);
        mapping.FromDenoised(input.Timestep, input.Sample, x0, modelOutput);
    }
}
