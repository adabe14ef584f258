using System.Numerics.Tensors;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// The latent stage of inpainting (the reference's <c>prepare_latents</c> and <c>prepare_mask_latents</c>), with the
/// seeded draws in its order: the start image's posterior (when the strength is below 1 or the UNet blends), the
/// noise, then the masked image's posterior (always, as the reference draws it even for a UNet that never reads it).
/// </summary>
internal static class InpaintingStart
{
    /// <summary>What the loop needs: the start latents, the image latents and noise for the blend, the UNet's extra channels.</summary>
    /// <param name="Latents">The latents entering the loop.</param>
    /// <param name="ImageLatents">The start image's latents for every item, or null when the reference does not encode it (9 channels at strength 1).</param>
    /// <param name="Noise">The noise draw, [B, C, h, w].</param>
    /// <param name="LatentMask">The mask at latent resolution, [h, w].</param>
    /// <param name="MaskedImageLatents">The masked image's latents, one item (scaled, [1, C, h, w]).</param>
    public sealed record Result(float[] Latents, float[]? ImageLatents, float[] Noise, float[] LatentMask, float[] MaskedImageLatents)
    {
        /// <summary>The 9-channel UNet's extra channels per item: the latent mask, then the masked image's latents, [B, 1 + C, h, w].</summary>
        public float[] ExtraChannels(TensorShape shape)
        {
            var plane = shape.Height * shape.Width;
            var perItem = plane + MaskedImageLatents.Length;
            var extra = new float[shape.Batch * perItem];
            for (var b = 0; b < shape.Batch; b++)
            {
                LatentMask.CopyTo(extra, b * perItem);
                MaskedImageLatents.CopyTo(extra, b * perItem + plane);
            }
            return extra;
        }
    }

    public static Result Prepare(StableDiffusionModel model, byte[] rgb, InpaintingMask mask, ISampler sampler, TensorShape shape, int startIndex,
        double strength, bool blends, INoiseSource noise, CancellationToken cancellationToken)
    {
        var one = shape.WithBatch(1);
        var factor = model.VaeScaleFactor;
        var pixels = StableDiffusionImages.Preprocess(rgb, shape.Width * factor, shape.Height * factor);
        var fullStrength = strength == 1.0;

        // prepare_latents: the image's latents only where they are used (below full strength, or for the blend).
        float[]? image = null;
        if (blends || !fullStrength) image = Repeat(StartLatents.EncodePixels(model, pixels, one, noise, cancellationToken), shape.Batch);
        var eps = new float[shape.Length];
        noise.NextGaussian(eps);
        var x = new float[shape.Length];
        if (fullStrength)
        {
            TensorPrimitives.Multiply(eps, (float)sampler.InitNoiseSigma, x);
        }
        else
        {
            var start = Enumerable.Repeat(sampler.Timesteps[startIndex], shape.Batch).ToArray();
            sampler.AddNoise(image!, eps, start, x);
        }

        // prepare_mask_latents: the latent mask and the masked image's latents.
        var masked = StartLatents.EncodePixels(model, mask.MaskImage(pixels), one, noise, cancellationToken);
        return new Result(x, image, eps, mask.Latent(factor), masked);
    }

    private static float[] Repeat(float[] item, int batch)
    {
        var all = new float[item.Length * batch];
        for (var b = 0; b < batch; b++) item.CopyTo(all, b * item.Length);
        return all;
    }
}
