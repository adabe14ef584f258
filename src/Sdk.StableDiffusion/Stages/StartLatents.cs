using System.Numerics.Tensors;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// The latent-preparation stage: the latents that enter the loop, with the seeded draws in the reference's order.
/// Text to image: draw 0 is <c>randn(latent shape) × init noise sigma</c>. Image to image: the start image is
/// preprocessed and encoded, the posterior sampled (draw 0), scaled, repeated for the batch, then noised to the first
/// timestep of the shortened schedule with draw 1.
/// </summary>
internal static class StartLatents
{
    public static float[] Noise(ISampler sampler, TensorShape shape, INoiseSource noise)
    {
        var x = new float[shape.Length];
        noise.NextGaussian(x);
        if (sampler.InitNoiseSigma != 1) TensorPrimitives.Multiply(x, (float)sampler.InitNoiseSigma, x);
        return x;
    }

    /// <summary>The start image's latent for one item: encoded, its posterior sampled with the next draw, scaled.</summary>
    public static float[] Encode(StableDiffusionModel model, byte[] rgb, TensorShape one, INoiseSource noise, CancellationToken cancellationToken) =>
        EncodePixels(model, StableDiffusionImages.Preprocess(rgb, one.Width * model.VaeScaleFactor, one.Height * model.VaeScaleFactor), one, noise, cancellationToken);

    /// <summary>A preprocessed picture's latent for one item ([1, 3, H, W] in [−1, 1]): encoded, its posterior sampled with the next draw, scaled.</summary>
    public static float[] EncodePixels(StableDiffusionModel model, float[] pixels, TensorShape one, INoiseSource noise, CancellationToken cancellationToken)
    {
        var encoder = model.VaeEncoder!;
        var factor = model.VaeScaleFactor;
        var (encoded, encodedShape) = encoder.Encode(pixels, new TensorShape(1, 3, one.Height * factor, one.Width * factor), cancellationToken);
        var kind = encoder.OutputKind(one.Channels);
        var latent = new float[one.Length];
        var draw = new float[one.Length];
        noise.NextGaussian(draw);
        if (kind == VaeEncoderOutput.Sample && encodedShape == one)
        {
            // Sampled inside the graph by ONNX Runtime; the seeded draw above is discarded, as the reference takes it.
            encoded.CopyTo(latent, 0);
        }
        else if (kind == VaeEncoderOutput.LatentParameters && encodedShape == one with { Channels = 2 * one.Channels })
        {
            // DiagonalGaussianDistribution: logvar clamped to [−30, 20], std = exp(logvar / 2), z = mean + std · ε.
            var n = one.Length;
            for (var i = 0; i < n; i++)
            {
                var logvar = Math.Clamp(encoded[n + i], -30f, 20f);
                latent[i] = encoded[i] + MathF.Exp(0.5f * logvar) * draw[i];
            }
        }
        else
        {
            throw new ModelLoadException($"{encoder.File}: the VAE encoder returned {encodedShape} for a {one.Width * factor}×{one.Height * factor} image; expected the latent {one} or its parameters (mean and log-variance) {one with { Channels = 2 * one.Channels }}.");
        }
        TensorPrimitives.Multiply(latent, (float)model.ScalingFactor, latent);
        return latent;
    }

    /// <summary>Image to image: the encoded start image, repeated for the batch, noised to the timestep at <paramref name="startIndex"/> with the next draw.</summary>
    public static float[] NoisedImage(StableDiffusionModel model, byte[] rgb, ISampler sampler, TensorShape shape, int startIndex, INoiseSource noise, CancellationToken cancellationToken)
    {
        var one = shape.WithBatch(1);
        var latent = Encode(model, rgb, one, noise, cancellationToken);
        var original = new float[shape.Length];
        for (var b = 0; b < shape.Batch; b++) latent.CopyTo(original, b * one.Length);
        return Noised(original, sampler, shape, startIndex, noise);
    }

    /// <summary><c>add_noise</c> of <paramref name="latents"/> (the whole batch) to the timestep at <paramref name="startIndex"/>, with the next draw.</summary>
    public static float[] Noised(float[] latents, ISampler sampler, TensorShape shape, int startIndex, INoiseSource noise)
    {
        var eps = new float[shape.Length];
        noise.NextGaussian(eps);
        var x = new float[shape.Length];
        var start = Enumerable.Repeat(sampler.Timesteps[startIndex], shape.Batch).ToArray();
        sampler.AddNoise(latents, eps, start, x);
        return x;
    }
}
