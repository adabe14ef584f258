using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// What makes a <see cref="StableDiffusionModel"/> an SDXL one (base, Turbo-style or refiner): its text encoders, the
/// UNet's added-conditioning inputs (<c>text_embeds</c>, <c>time_ids</c>, read from the session) and the pipeline
/// settings of <c>model_index.json</c>.
/// </summary>
public sealed class StableDiffusionXLInfo
{
    internal StableDiffusionXLInfo(SdxlTextEncoders textEncoders, string textEmbedsInput, int textEmbedsLength, string timeIdsInput, int timeIdsLength,
        bool requiresAestheticsScore, bool forceZerosForEmptyPrompt)
    {
        TextEncoders = textEncoders;
        TextEmbedsInput = textEmbedsInput;
        TextEmbedsLength = textEmbedsLength;
        TimeIdsInput = timeIdsInput;
        TimeIdsLength = timeIdsLength;
        RequiresAestheticsScore = requiresAestheticsScore;
        ForceZerosForEmptyPrompt = forceZerosForEmptyPrompt;
    }

    /// <summary>The tokenizer and text encoder pairs: text_encoder and text_encoder_2 (base), or text_encoder_2 alone (refiner).</summary>
    public SdxlTextEncoders TextEncoders { get; }

    /// <summary>The UNet input that takes the pooled text embedding.</summary>
    public string TextEmbedsInput { get; }

    /// <summary>Its width (the projection's size).</summary>
    public int TextEmbedsLength { get; }

    /// <summary>The UNet input that takes the micro-conditioning.</summary>
    public string TimeIdsInput { get; }

    /// <summary>Its columns, read from the session: 6 (sizes and crop) for a base UNet, 5 (with the aesthetic score) for a refiner.</summary>
    public int TimeIdsLength { get; }

    /// <summary><c>requires_aesthetics_score</c>: the time ids carry aesthetic scores instead of the target size (a refiner).</summary>
    public bool RequiresAestheticsScore { get; }

    /// <summary><c>force_zeros_for_empty_prompt</c> of <c>model_index.json</c> (true when absent, as diffusers' default): without a negative prompt, the negative embeddings are zeros.</summary>
    public bool ForceZerosForEmptyPrompt { get; }

    /// <summary>
    /// Reads the pipeline settings and checks them against the UNet: the time-id length must be 6 or 5 and agree with
    /// <c>requires_aesthetics_score</c> where <c>model_index.json</c> states it.
    /// </summary>
    internal static StableDiffusionXLInfo Create(ModelFolderConfigs configs, SdxlTextEncoders encoders, string unetFile, string textEmbedsInput, int? textEmbedsLength,
        string timeIdsInput, int? timeIdsLength)
    {
        var pooled = encoders.Pairs.First(p => p.Encoder.PooledOutputName is not null).Encoder;
        var pooledWidth = pooled.PooledWidth;
        if (textEmbedsLength is { } te && pooledWidth is { } pw && te != pw)
            throw new ModelLoadException($"The UNet {unetFile} takes '{textEmbedsInput}' of width {te}, but the text encoder {pooled.File} pools to width {pw}; the two do not belong together.");
        var width = textEmbedsLength ?? pooledWidth
            ?? throw new ModelLoadException($"Neither the UNet {unetFile} ('{textEmbedsInput}') nor the text encoder {pooled.File} fixes the pooled embedding's width.");
        if (timeIdsLength is not ({ } length and (SdxlTimeIds.SizeColumns or SdxlTimeIds.AestheticColumns)))
            throw new ModelLoadException($"The UNet {unetFile} takes '{timeIdsInput}' with {(timeIdsLength?.ToString() ?? "a dynamic number of")} columns; SDXL's micro-conditioning has {SdxlTimeIds.SizeColumns} (original size, crop, target size) or {SdxlTimeIds.AestheticColumns} (original size, crop, aesthetic score; a refiner).");
        var aesthetic = length == SdxlTimeIds.AestheticColumns;
        if (configs.RequiresAestheticsScore is { } declared && declared != aesthetic)
            throw new ModelLoadException($"{configs.Index!.File} says requires_aesthetics_score = {(declared ? "true" : "false")}, but the UNet {unetFile} takes '{timeIdsInput}' with {length} columns, which means {(aesthetic ? "aesthetic scores (a refiner)" : "a target size (a base model)")}; the files do not belong together.");
        return new StableDiffusionXLInfo(encoders, textEmbedsInput, width, timeIdsInput, length, aesthetic, configs.ForceZerosForEmptyPrompt);
    }
}
