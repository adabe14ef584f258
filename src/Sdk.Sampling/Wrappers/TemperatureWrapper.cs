using System.Globalization;
using System.Numerics.Tensors;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// Divides the model output by a temperature before each step: T &gt; 1 damps the prediction, T &lt; 1 sharpens it.
/// T = 1 passes the output through untouched (the same bytes as the unwrapped sampler).
/// </summary>
public sealed class TemperatureWrapper : ModelOutputAdjuster
{
    /// <summary>Wraps <paramref name="inner"/> with temperature <paramref name="temperature"/> (must be &gt; 0).</summary>
    public TemperatureWrapper(ISampler inner, double temperature) : base(inner)
    {
        if (!(temperature > 0) || !double.IsFinite(temperature))
            throw new SchedulerConfigException("temperature", temperature.ToString("R", CultureInfo.InvariantCulture), "a finite number > 0 (1 = unchanged)");
        Temperature = temperature;
    }

    /// <summary>The temperature T.</summary>
    public double Temperature { get; }

    /// <inheritdoc/>
    protected override bool IsActive => Temperature != 1;

    /// <inheritdoc/>
    protected override void Adjust(in StepInput input, Span<float> modelOutput, INoiseSource noise)
    {
        TensorPrimitives.Divide(modelOutput, (float)Temperature, modelOutput);
    }
}
