using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// Stable Diffusion 1.x/2.x conditioning, as the reference's <c>encode_prompt</c>: each prompt tokenized to the
/// model's length and encoded by the text encoder (its last hidden state); under guidance the negative prompt (the
/// empty prompt when there is none) likewise, its rows first. Each distinct text is encoded once per run.
/// </summary>
/// <param name="tokenizer">The prompt tokenizer.</param>
/// <param name="encoder">The text encoder.</param>
public sealed class ClipTextConditioner(IPromptTokenizer tokenizer, OnnxTextEncoder encoder) : IConditioner
{
    /// <inheritdoc/>
    public ModelConditioning Build(ConditioningContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var cache = new Dictionary<string, float[]>(StringComparer.Ordinal);
        float[] Embed(string text)
        {
            if (cache.TryGetValue(text, out var e)) return e;
            cancellationToken.ThrowIfCancellationRequested();
            return cache[text] = encoder.Encode(tokenizer.Encode(text));
        }

        var batch = context.Batch;
        var rows = context.Guided ? 2 * batch : batch;
        var perRow = Embed(context.Prompts[0]).Length;
        var hidden = new float[checked(rows * perRow)];
        var first = rows - batch; // the conditional rows follow the unconditional ones
        if (context.Guided)
        {
            var negatives = context.Request.NegativePrompts;
            for (var b = 0; b < batch; b++) Embed(negatives?[b / context.ImagesPerPrompt] ?? context.Request.NegativePrompt ?? "").CopyTo(hidden, b * perRow);
        }
        for (var b = 0; b < batch; b++) Embed(context.Prompts[b / context.ImagesPerPrompt]).CopyTo(hidden, (first + b) * perRow);
        return new ModelConditioning(rows, context.Guided, encoderHiddenStates: hidden);
    }
}
