namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// A VAE returned NaN or infinity. SDXL's original VAE overflows in float16 (its config says <c>force_upcast: true</c>,
/// which diffusers answers by running it in float32): an ONNX export in float16 decodes black or NaN images. Use a
/// float32 export of the VAE, or an "fp16-fix" VAE, from another folder (<see cref="StableDiffusionOptions.VaeFolder"/>,
/// <c>--vae FOLDER</c>).
/// </summary>
public sealed class VaeOverflowException : NonFiniteOutputException
{
    internal VaeOverflowException(string file, string part, bool float16, bool? forceUpcast, int index, float value)
        : base($"The {part} {file} returned {Describe(value)} (element {index}){(float16 ? " running in float16" : "")}. " +
               (float16
                   ? $"{(forceUpcast == true ? "Its config says force_upcast: true: this VAE overflows in float16, as SDXL's original VAE does. " : "The VAE probably overflows in float16, as SDXL's original VAE does. ")}" +
                     "Use a float32 export of the VAE, or an fp16-fix VAE (e.g. madebyollin/sdxl-vae-fp16-fix exported to ONNX), with StableDiffusionOptions.VaeFolder or --vae FOLDER."
                   : "The latents may have diverged (check them with OnStep or --stats), or the VAE does not belong to this UNet; a VAE from another folder can be used with StableDiffusionOptions.VaeFolder or --vae FOLDER."),
            file, part, float16, index, value)
    {
    }

    /// <summary>Throws when <paramref name="values"/> holds a NaN or infinity.</summary>
    internal static void ThrowIfNonFinite(ReadOnlySpan<float> values, string file, string part, bool float16, bool? forceUpcast)
    {
        var index = FirstNonFinite(values);
        if (index >= 0) throw new VaeOverflowException(file, part, float16, forceUpcast, index, values[index]);
    }
}
