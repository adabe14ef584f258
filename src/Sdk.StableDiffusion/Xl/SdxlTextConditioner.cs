using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// What SDXL's conditioning stage encodes for one run: per prompt its second text, and the negative texts (or none:
/// null). Texts as the reference defaults them: <c>prompt_2 or prompt</c>, <c>negative_prompt_2 or negative_prompt</c>.
/// </summary>
/// <param name="Prompts">The prompts, one per batch item before <c>ImagesPerPrompt</c>.</param>
/// <param name="Prompts2">Each prompt's second text (text_encoder_2's), or null entries for the prompt itself.</param>
/// <param name="NegativePrompts">Each prompt's negative text; null: no negative prompt (zeros where the model forces them, else "").</param>
/// <param name="NegativePrompts2">Each prompt's negative text for text_encoder_2 (null entries: the negative prompt), or null.</param>
/// <param name="ClipSkip">Layers to skip at the end of each encoder, for the prompts only (the reference ignores it for the negative prompt).</param>
internal sealed record SdxlPromptBatch(string[] Prompts, string?[] Prompts2, string[]? NegativePrompts, string?[]? NegativePrompts2, int ClipSkip)
{
    /// <summary>The texts of a request whose prompts the pipeline resolved to <paramref name="prompts"/>.</summary>
    public static SdxlPromptBatch From(StableDiffusionRequest request, IReadOnlyList<string> prompts)
    {
        var n = prompts.Count;
        var prompts2 = request.Prompts2?.ToArray() ?? Enumerable.Repeat(request.Prompt2, n).ToArray();
        var negatives = request.NegativePrompts?.ToArray() ?? (request.NegativePrompt is { } negative ? Enumerable.Repeat(negative, n).ToArray() : null);
        var negatives2 = request.NegativePrompts2?.ToArray() ?? (request.NegativePrompt2 is { } negative2 ? Enumerable.Repeat<string?>(negative2, n).ToArray() : null);
        return new SdxlPromptBatch([.. prompts], prompts2, negatives, negatives2, request.ClipSkip);
    }
}

/// <summary>
/// SDXL's conditioning stage, as diffusers' <c>encode_prompt</c> and the pipelines' <c>__call__</c> build it: each
/// distinct text pair encoded once by both text encoders (<see cref="SdxlTextEncoders"/>), the negative prompt
/// (zeros without one where the model forces them, as <c>force_zeros_for_empty_prompt</c>), and the micro-conditioning
/// (<see cref="MicroConditioning"/>), as the UNet's <c>encoder_hidden_states</c>, <c>text_embeds</c> and <c>time_ids</c>,
/// unconditional rows first under guidance.
/// </summary>
/// <param name="xl">The model's SDXL parts.</param>
public sealed class SdxlTextConditioner(StableDiffusionXLInfo xl) : IConditioner
{
    /// <inheritdoc/>
    public ModelConditioning Build(ConditioningContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Request;
        var imageToImage = request.InitImage is not null || request.InitLatents is not null || request.DenoisingStart is not null;
        return Build(xl, SdxlPromptBatch.From(request, context.Prompts), context.ImagesPerPrompt, context.Guided, request.MicroConditioning,
            context.Height, context.Width, imageToImage, cancellationToken);
    }

    /// <inheritdoc/>
    /// <exception cref="SamplingOptionException">The request asks for a prompt syntax SDXL's conditioning does not read (A1111 emphasis and long prompts are SD 1.x/2.x's so far).</exception>
    public void Check(ConditioningContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Request.PromptSyntax != PromptSyntax.Plain)
            throw new SamplingOptionException(nameof(StableDiffusionRequest.PromptSyntax), context.Request.PromptSyntax.ToString(),
                "Plain for an SDXL model: the A1111 syntax and long prompts are supported for SD 1.x/2.x exports only so far");
    }

    /// <summary>Encodes the texts (each distinct text pair once) and lays out the rows.</summary>
    /// <param name="xl">The model's SDXL parts.</param>
    /// <param name="batch">The texts.</param>
    /// <param name="imagesPerPrompt">Rows per prompt (<c>num_images_per_prompt</c>: prompt 0 n times, then prompt 1…).</param>
    /// <param name="guided">Classifier-free guidance: negative rows first.</param>
    /// <param name="time">The micro-conditioning.</param>
    /// <param name="height">Image height in pixels.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="imageToImage">The image-to-image pipeline's time-id rules.</param>
    /// <param name="cancellationToken">Checked between encoder calls.</param>
    internal static ModelConditioning Build(StableDiffusionXLInfo xl, SdxlPromptBatch batch, int imagesPerPrompt, bool guided,
        MicroConditioning? time, int height, int width, bool imageToImage, CancellationToken cancellationToken)
    {
        var encoders = xl.TextEncoders;
        var cache = new Dictionary<(string, string, int), (float[] Embeddings, float[] Pooled)>();
        (float[] Embeddings, float[] Pooled) Encode(string first, string? second, int fromEnd)
        {
            var key = (first, string.IsNullOrEmpty(second) ? first : second, fromEnd);
            if (cache.TryGetValue(key, out var e)) return e;
            cancellationToken.ThrowIfCancellationRequested();
            return cache[key] = encoders.Encode(first, second, fromEnd, cancellationToken);
        }

        var prompts = batch.Prompts.Length;
        var items = prompts * imagesPerPrompt;
        var positives = new (float[] Embeddings, float[] Pooled)[prompts];
        for (var p = 0; p < prompts; p++) positives[p] = Encode(batch.Prompts[p], batch.Prompts2[p], 2 + batch.ClipSkip);
        var perRow = positives[0].Embeddings.Length;
        var pooledWidth = positives[0].Pooled.Length;

        // The negative: zeros when there is no negative prompt and the model forces them (no encoder runs), else the
        // text ("" by default), always from hidden_states[-2]: the reference applies clip_skip to the prompt only.
        var negatives = new (float[] Embeddings, float[] Pooled)[prompts];
        if (guided)
        {
            var zeros = (new float[perRow], new float[pooledWidth]);
            for (var p = 0; p < prompts; p++)
                negatives[p] = batch.NegativePrompts is null && xl.ForceZerosForEmptyPrompt
                    ? zeros
                    : Encode(batch.NegativePrompts?[p] ?? "", batch.NegativePrompts2?[p], 2);
        }

        var rows = guided ? 2 * items : items;
        var hidden = new float[checked(rows * perRow)];
        var pooled = new float[rows * pooledWidth];
        var offset = guided ? items : 0;
        for (var i = 0; i < items; i++)
        {
            var (e, p) = positives[i / imagesPerPrompt];
            e.CopyTo(hidden, (offset + i) * perRow);
            p.CopyTo(pooled, (offset + i) * pooledWidth);
            if (!guided) continue;
            var (ne, np) = negatives[i / imagesPerPrompt];
            ne.CopyTo(hidden, i * perRow);
            np.CopyTo(pooled, i * pooledWidth);
        }
        var timeIds = SdxlTimeIds.Build(time, height, width, xl.RequiresAestheticsScore, imageToImage, items, guided);
        return new ModelConditioning(rows, guided, encoderHiddenStates: hidden, inputs:
        [
            new ConditioningInput(xl.TextEmbedsInput, pooled, [pooledWidth]),
            new ConditioningInput(xl.TimeIdsInput, timeIds, [timeIds.Length / rows]),
        ]);
    }
}
