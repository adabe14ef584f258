using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// Which latents a request starts from, with the draws in the reference's order:
/// <list type="bullet">
/// <item>text to image: noise × init noise sigma (draw 0);</item>
/// <item>a start picture: encoded, its posterior sampled (draw 0), then noised to the first timestep (draw 1);</item>
/// <item>start latents (<see cref="StableDiffusionRequest.InitLatents"/>): used as the encoded picture, without the posterior draw;</item>
/// <item>with <see cref="StableDiffusionRequest.DenoisingStart"/> (SDXL's refiner), the picture or latents are not
/// noised: the reference's image-to-image pipeline adds noise only when <c>denoising_start</c> is unset.</item>
/// </list>
/// </summary>
internal static class RequestStartLatents
{
    public static float[] Prepare(StableDiffusionModel model, StableDiffusionRequest request, byte[]? rgb, ISampler sampler, TensorShape shape, int startIndex, INoiseSource noise, CancellationToken cancellationToken)
    {
        if (rgb is null && request.InitLatents is null) return StartLatents.Noise(sampler, shape, noise);
        if (request is { InitLatents: null, DenoisingStart: null }) return StartLatents.NoisedImage(model, rgb!, sampler, shape, startIndex, noise, cancellationToken);
        var one = shape.WithBatch(1);
        var latents = new float[shape.Length];
        if (request.InitLatents is { } given)
        {
            if (given.Length == shape.Length) given.CopyTo(latents, 0);
            else for (var b = 0; b < shape.Batch; b++) given.CopyTo(latents, b * one.Length);
        }
        else
        {
            var latent = StartLatents.Encode(model, rgb!, one, noise, cancellationToken);
            for (var b = 0; b < shape.Batch; b++) latent.CopyTo(latents, b * one.Length);
        }
        return request.DenoisingStart is not null ? latents : StartLatents.Noised(latents, sampler, shape, startIndex, noise);
    }
}
