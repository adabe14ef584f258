using System.Globalization;
using System.Numerics.Tensors;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// Adds strength·N(0, I) to the model output before each step, drawn from the run's seeded noise source (before
/// the wrapped sampler draws its own), so injected runs stay reproducible. Strength 0 draws nothing and changes nothing.
/// </summary>
public sealed class NoiseInjectionWrapper : ModelOutputAdjuster
{
    private float[]? _draw;

    /// <summary>Wraps <paramref name="inner"/> with injection strength <paramref name="strength"/> (must be ≥ 0).</summary>
    public NoiseInjectionWrapper(ISampler inner, double strength) : base(inner)
    {
        if (!(strength >= 0) || !double.IsFinite(strength))
            throw new SchedulerConfigException("noise_injection", strength.ToString("R", CultureInfo.InvariantCulture), "a finite number >= 0 (0 = none)");
        Strength = strength;
    }

    /// <summary>The injection strength.</summary>
    public double Strength { get; }

    /// <inheritdoc/>
    protected override bool IsActive => Strength != 0;

    /// <inheritdoc/>
    protected override void Adjust(in StepInput input, Span<float> modelOutput, INoiseSource noise)
    {
        var draw = Reuse(ref _draw, modelOutput.Length);
        noise.NextGaussian(draw);
        TensorPrimitives.MultiplyAdd(draw, (float)Strength, modelOutput, modelOutput);
    }
}
