using System.Numerics.Tensors;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// The decoding stage: latents ÷ the scaling factor → VAE decoder (the whole batch in one call where the export
/// allows) → <c>(x / 2 + 0.5).clamp(0, 1)</c>, as the reference post-processes.
/// </summary>
internal static class VaeDecoding
{
    public static (float[] Images, TensorShape Shape) Decode(StableDiffusionModel model, float[] latents, TensorShape shape, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var scaled = new float[latents.Length];
        TensorPrimitives.Divide(latents, (float)model.ScalingFactor, scaled);
        var (images, imageShape) = model.VaeDecoder.Decode(scaled, shape, cancellationToken);
        StableDiffusionImages.Postprocess(images);
        return (images, imageShape);
    }
}
