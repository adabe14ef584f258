using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// Base of wrappers that change the model output before the wrapped sampler's step (temperature, noise injection,
/// thresholding). The adjusted output goes to a buffer of the wrapper's, so the caller's output is never modified;
/// an inactive wrapper (temperature 1, strength 0) passes the step straight through, byte for byte.
/// </summary>
public abstract class ModelOutputAdjuster(ISampler inner) : SamplerDecorator(inner)
{
    private float[]? _adjusted;

    /// <summary>Whether this wrapper changes anything; when false, steps go to the wrapped sampler untouched.</summary>
    protected abstract bool IsActive { get; }

    /// <inheritdoc/>
    public sealed override bool Step(in StepInput input, in StepOutput output, INoiseSource noise)
    {
        if (!IsActive) return Inner.Step(input, output, noise);
        var adjusted = Reuse(ref _adjusted, input.ModelOutput.Length);
        input.ModelOutput.CopyTo(adjusted);
        Adjust(input, adjusted, noise);
        return Inner.Step(input with { ModelOutput = adjusted }, output, noise);
    }

    /// <summary>Changes the model output held in <paramref name="modelOutput"/> (a copy of the caller's).</summary>
    protected abstract void Adjust(in StepInput input, Span<float> modelOutput, INoiseSource noise);
}
