using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// Which inpainting a UNet does, from the channels its sample input reads (the session's, else the first convolution's
/// weight, <see cref="ModelInfo.InputChannels"/>): the latent's C channels, an ordinary UNet, which inpaints by having
/// the known region put back after every step; or C + 1 + C, an inpainting UNet, which reads the latent mask and the
/// masked image's latents after the latents (the reference's 9 = 4 + 1 + 4).
/// </summary>
internal static class InpaintingUnet
{
    /// <summary>Whether the UNet takes the mask channels (true) or blends (false); fails for a request that does not fit the UNet.</summary>
    /// <exception cref="InvalidImageException">An inpainting UNet was given no mask.</exception>
    /// <exception cref="ModelLoadException">The UNet reads a channel count that is neither.</exception>
    public static bool Check(StableDiffusionModel model, bool masked)
    {
        var latent = model.LatentChannels;
        var input = model.Unet.Info.SampleInputChannels;
        if (input == 2 * latent + 1)
        {
            return masked ? true
                : throw new InvalidImageException($"{model.Unet.ModelPath} is an inpainting UNet ({input} input channels: {latent} latent, 1 mask, {latent} masked-image latent): " +
                    "give the picture and the mask to repaint (InitImage and Mask; --init-image and --mask).");
        }
        if (input != latent)
            throw new ModelLoadException($"{model.Unet.ModelPath} reads {input} input channels and writes {latent}; the SDK runs UNets that read the latent's {latent} " +
                $"or an inpainting UNet's {2 * latent + 1} (latent, mask, masked-image latent).");
        return false;
    }
}
