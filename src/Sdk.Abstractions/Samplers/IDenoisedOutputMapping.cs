namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// A sampler whose network output is not ε, x₀ or v of the variance-preserving training schedule (EDM's preconditioned F,
/// a flow model's velocity): it says how its output maps to the predicted clean sample x̂₀ and back, so that wrappers
/// which limit x̂₀ (thresholding) work on it without knowing its parameterisation.
/// </summary>
public interface IDenoisedOutputMapping
{
    /// <summary>Writes x̂₀ for the network output <paramref name="modelOutput"/> on <paramref name="sample"/> at <paramref name="timestep"/>.</summary>
    void ToDenoised(double timestep, ReadOnlySpan<float> sample, ReadOnlySpan<float> modelOutput, Span<float> denoised);

    /// <summary>Writes the network output that <see cref="ToDenoised"/> would map to <paramref name="denoised"/>.</summary>
    void FromDenoised(double timestep, ReadOnlySpan<float> sample, ReadOnlySpan<float> denoised, Span<float> modelOutput);
}
