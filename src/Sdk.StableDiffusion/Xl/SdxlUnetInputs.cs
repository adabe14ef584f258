using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Onnx;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>Reads an SDXL UNet's added-conditioning inputs from its session and checks them against the text encoders.</summary>
internal static class SdxlUnetInputs
{
    public const string TextEmbeds = "text_embeds";
    public const string TimeIds = "time_ids";

    /// <exception cref="ModelLoadException">An input is missing or of the wrong type or rank, or the widths disagree with the encoders (the message names both).</exception>
    public static StableDiffusionXLInfo Read(ModelFolderConfigs configs, OnnxDiffusionModel unet, SdxlTextEncoders encoders)
    {
        var inputs = unet.Session.InputMetadata;
        var file = unet.ModelPath;
        var described = string.Join("; ", inputs.Select(kv => $"'{kv.Key}': {OnnxSignature.Describe(kv.Value)}"));
        int? Width(string name, string what)
        {
            if (!inputs.TryGetValue(name, out var m))
                throw new ModelLoadException($"{file} takes no '{name}' ({what}), so it is not an SDXL UNet, but the folder has SDXL's text_encoder_2/. Inputs are: {described}.");
            if (!m.IsTensor || !OnnxSignature.IsFloat(m.ElementDataType) || m.Dimensions.Length != 2)
                throw new ModelLoadException($"{file}: the input '{name}' is {OnnxSignature.Describe(m)}; expected float32 or float16 [batch, {what}].");
            return m.Dimensions[1] > 0 ? m.Dimensions[1] : null;
        }
        var textEmbeds = Width(TextEmbeds, "pooled text embedding");
        var timeIds = Width(TimeIds, "micro-conditioning values");

        // The cross-attention width is the encoders' hidden sizes side by side.
        var widths = encoders.Pairs.Select(p => p.Encoder.HiddenSize).ToList();
        var hidden = unet.Signature.HiddenStatesSize;
        if (widths.All(w => w is not null) && hidden > 0 && widths.Sum() != hidden)
            throw new ModelLoadException($"{file} takes encoder hidden states of width {hidden}, but the text encoders give {string.Join(" + ", encoders.Pairs.Select(p => $"{p.Encoder.HiddenSize} ({p.Name})"))} = {widths.Sum()}; the files do not belong together.");
        return StableDiffusionXLInfo.Create(configs, encoders, file, TextEmbeds, textEmbeds, TimeIds, timeIds);
    }
}
