using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Onnx;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// Load-time checks that the files of a Stable Diffusion folder fit each other and that the sizes they state are
/// usable, before any work: a mismatch is a <see cref="ModelLoadException"/> naming both files and both values,
/// instead of a failure deep inside a session or a silently wrong picture. Every size read from a file is checked
/// before it is used in arithmetic (a wrapped shift or product turned a 34-block VAE into factor 2, and a
/// <c>sample_size</c> of 2²⁹ + 8 into 64).
/// </summary>
internal static class ComponentConsistency
{
    /// <summary>The widest image side, in pixels, that a model's default size may ask for.</summary>
    public const int MaxImageSide = 1 << 16;

    // 2^(blocks − 1) pixels per latent; SD's VAEs have 4 blocks (factor 8). More than 16 would be a 32768× VAE.
    private const int MaxVaeBlocks = 16;

    /// <summary>The VAE factor 2^(blocks − 1) from <c>block_out_channels</c>, else 8.</summary>
    public static int VaeScaleFactor(ComponentConfig? vaeConfig)
    {
        var blocks = vaeConfig?.ArrayLength("block_out_channels");
        if (blocks is null) return 8;
        return blocks is >= 1 and <= MaxVaeBlocks ? 1 << (blocks.Value - 1)
            : throw new ModelLoadException($"{vaeConfig!.File}: 'block_out_channels' has {blocks} entries; a VAE has 1 to {MaxVaeBlocks} blocks (Stable Diffusion's have 4, a factor of 8 pixels per latent).");
    }

    /// <summary>The scaling factor, which must be a positive float32 (the latents are divided by it in float32).</summary>
    public static double ScalingFactor(double scaling, string source)
    {
        var single = (float)scaling;
        if (!(single > 0) || !float.IsFinite(single))
            throw new ModelLoadException($"The VAE scaling factor is {scaling.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}, which is {(float.IsFinite(single) ? "0 or less" : "not finite")} as float32; " +
                $"expected a number between {float.Epsilon:R} and {float.MaxValue:R} (Stable Diffusion 1.x uses 0.18215, SDXL 0.13025). Fix 'scaling_factor' in {source} or set StableDiffusionOptions.ScalingFactor.");
        return scaling;
    }

    /// <summary>The UNet's <c>sample_size</c>, checked so that sample_size × the VAE factor is a usable image side.</summary>
    public static int? SampleSize(int? sampleSize, int factor, string source, string vaeSource)
    {
        if (sampleSize is not { } size) return null;
        if (size < 1 || (long)size * factor > MaxImageSide)
            throw new ModelLoadException($"{source}: 'sample_size' is {size}, which with the VAE factor {factor} ({vaeSource}) gives images of {(long)size * factor} pixels a side; " +
                $"expected 1 to {MaxImageSide / factor} (Stable Diffusion 1.x: 64, SDXL: 128).");
        return size;
    }

    /// <summary>The text encoder's width against the UNet's <c>encoder_hidden_states</c> (SD 1.x/2.x; SDXL checks both encoders' sum).</summary>
    public static void TextEncoderFitsUnet(OnnxTextEncoder encoder, int? configWidth, OnnxDiffusionModel unet)
    {
        var width = encoder.HiddenSize ?? configWidth;
        var expected = unet.Signature.HiddenStatesSize;
        if (width is { } w && expected > 0 && w != expected)
            throw new ModelLoadException($"The text encoder {encoder.File} gives hidden states of width {w}, but the UNet {unet.ModelPath} takes encoder_hidden_states of width {expected}; the files do not belong together.");
    }

    /// <summary>Every id of a CLIP tokenizer's vocabulary must be a row of the text encoder's token table.</summary>
    public static void TokenizerFitsEncoder(IPromptTokenizer tokenizer, string tokenizerFolder, OnnxTextEncoder encoder)
    {
        if (tokenizer is ClipPromptTokenizer clip && encoder.VocabularySize is { } size && clip.Tokenizer.HighestId >= size)
            throw new ModelLoadException($"The tokenizer {Path.Combine(tokenizerFolder, "vocab.json")} has ids up to {clip.Tokenizer.HighestId}, but the text encoder {encoder.File} knows {size} tokens (ids 0 to {size - 1}); the files do not belong together.");
    }

    /// <summary>The VAE's latent channels (declared by the decoder's input, else the config's <c>latent_channels</c>) against the UNet's.</summary>
    public static void VaeFitsUnet(OnnxVaeDecoder decoder, OnnxVaeEncoder? encoder, ModelFolderConfigs configs, OnnxDiffusionModel unet)
    {
        var vaeConfig = configs.Vae.Config;
        var factor = configs.VaeScaleFactor;
        var channels = unet.Info.Channels;
        var declared = decoder.DeclaredLatentChannels;
        var (vaeChannels, source) = declared is { } d ? (d, $"the VAE decoder {decoder.File}") : (configs.LatentChannels, vaeConfig?.File);
        if (vaeChannels is { } v && v != channels)
            throw new ModelLoadException($"{source} takes latents of {v} channels, but the UNet {unet.ModelPath} makes latents of {channels}; the files do not belong together.");
        if (encoder?.DeclaredOutputChannels is { } e && e != channels && e != 2 * channels)
            throw new ModelLoadException($"The VAE encoder {encoder.File} returns {e} channels, but the UNet {unet.ModelPath} takes latents of {channels} (expected {channels}, or {2 * channels} for the posterior's mean and log-variance); the files do not belong together.");
        if (decoder.DeclaredUpsampling is { } up && up != factor)
            throw new ModelLoadException($"The VAE decoder {decoder.File} turns each latent into {up}×{up} pixels, but {vaeConfig?.File ?? "the default"} gives a VAE factor of {factor}; the files do not belong together.");
    }
}
