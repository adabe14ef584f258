using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Pipeline;

/// <summary>
/// A stage of a model family that works on the latents between sampler steps, after the sampler and before the next
/// model evaluation: for example inpainting with an ordinary UNet, which puts the start image, noised to the next
/// timestep, back into the known region after every step. It never sees the model.
/// </summary>
public interface ILatentStage
{
    /// <summary>Adjusts the latents the sampler returned from the step at <paramref name="timestepIndex"/>.</summary>
    /// <param name="timestepIndex">The index in the sampler's timesteps of the step just taken.</param>
    /// <param name="latents">The sample after the step, adjusted in place.</param>
    /// <param name="shape">Its shape.</param>
    void AfterStep(int timestepIndex, Span<float> latents, TensorShape shape);
}
