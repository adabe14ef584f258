using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// Base of the sampler wrappers: forwards every member to <see cref="Inner"/>, so a wrapper overrides only what it
/// changes. Wrappers compose around any <see cref="ISampler"/>, a plugin's included.
/// </summary>
public abstract class SamplerDecorator : ISampler
{
    /// <summary>Wraps <paramref name="inner"/>.</summary>
    protected SamplerDecorator(ISampler inner) => Inner = inner ?? throw new ArgumentNullException(nameof(inner));

    /// <summary>The wrapped sampler.</summary>
    public ISampler Inner { get; }

    /// <inheritdoc/>
    public virtual string Name => Inner.Name;

    /// <inheritdoc/>
    public SchedulerConfig Config => Inner.Config;

    /// <inheritdoc/>
    public NoiseSchedule Schedule => Inner.Schedule;

    /// <inheritdoc/>
    public IReadOnlyList<double> Timesteps => Inner.Timesteps;

    /// <inheritdoc/>
    public double InitNoiseSigma => Inner.InitNoiseSigma;

    /// <inheritdoc/>
    public int Order => Inner.Order;

    /// <inheritdoc/>
    public void SetBeginIndex(int index) => Inner.SetBeginIndex(index);

    /// <inheritdoc/>
    public virtual void SetTimesteps(int numInferenceSteps) => Inner.SetTimesteps(numInferenceSteps);

    /// <inheritdoc/>
    public virtual void SetTimesteps(IReadOnlyList<double> timesteps) => Inner.SetTimesteps(timesteps);

    /// <inheritdoc/>
    public void ScaleModelInput(ReadOnlySpan<float> sample, double timestep, Span<float> destination) => Inner.ScaleModelInput(sample, timestep, destination);

    /// <inheritdoc/>
    public bool ScalesModelInput(double timestep) => Inner.ScalesModelInput(timestep);

    /// <inheritdoc/>
    public virtual bool Step(in StepInput input, in StepOutput output, INoiseSource noise) => Inner.Step(input, output, noise);

    /// <inheritdoc/>
    public void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination) =>
        Inner.AddNoise(original, noise, timesteps, destination);

    /// <summary>The innermost sampler, below every wrapper.</summary>
    public static ISampler Unwrap(ISampler sampler)
    {
        while (sampler is SamplerDecorator decorator) sampler = decorator.Inner;
        return sampler;
    }

    /// <summary>A scratch buffer of exactly <paramref name="length"/> floats, reused while the length stays the same.</summary>
    protected static Span<float> Reuse(ref float[]? buffer, int length)
    {
        if (buffer is null || buffer.Length != length) buffer = new float[length];
        return buffer;
    }
}
