using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// Stable Diffusion 1.x/2.x conditioning, as the reference's <c>encode_prompt</c>: each prompt tokenized to the
/// model's length and encoded by the text encoder (its last hidden state); under guidance the negative prompt (the
/// empty prompt when there is none) likewise, its rows first. Each distinct text is encoded once per run. A request in
/// the A1111 prompt syntax (<see cref="PromptSyntax.A1111"/>) goes to <see cref="LongPrompts"/> instead.
/// </summary>
/// <param name="tokenizer">The prompt tokenizer.</param>
/// <param name="encoder">The text encoder.</param>
/// <param name="longPrompts">The conditioner of <see cref="PromptSyntax.A1111"/> requests; null where the tokenizer is not CLIP's.</param>
public sealed class ClipTextConditioner(IPromptTokenizer tokenizer, OnnxTextEncoder encoder, LongPromptConditioner? longPrompts = null) : IConditioner
{
    /// <summary>The conditioner of <see cref="PromptSyntax.A1111"/> requests, or null when the model's tokenizer is not CLIP's.</summary>
    public LongPromptConditioner? LongPrompts => longPrompts;

    /// <inheritdoc/>
    /// <exception cref="SamplingOptionException">The prompt syntax is unknown, or the A1111 syntax was asked of a model without the CLIP tokenizer.</exception>
    public void Check(ConditioningContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (Syntax(context) == PromptSyntax.A1111) LongPromptsOrThrow().Check(context);
    }

    /// <inheritdoc/>
    public ModelConditioning Build(ConditioningContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (Syntax(context) == PromptSyntax.A1111) return LongPromptsOrThrow().Build(context, cancellationToken);
        var cache = new Dictionary<string, float[]>(StringComparer.Ordinal);
        float[] Embed(string text)
        {
            if (cache.TryGetValue(text, out var e)) return e;
            cancellationToken.ThrowIfCancellationRequested();
            return cache[text] = encoder.Encode(tokenizer.Encode(text), cancellationToken);
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

    private static PromptSyntax Syntax(ConditioningContext context) => context.Request.PromptSyntax is var syntax && Enum.IsDefined(syntax) ? syntax
        : throw new SamplingOptionException(nameof(StableDiffusionRequest.PromptSyntax), syntax.ToString(), "Plain (the default) or A1111");

    private LongPromptConditioner LongPromptsOrThrow() => longPrompts ?? throw new SamplingOptionException(nameof(StableDiffusionRequest.PromptSyntax),
        nameof(PromptSyntax.A1111), $"Plain: the A1111 syntax and long prompts need the CLIP tokenizer of the model's tokenizer/ folder, and this model uses {tokenizer.GetType().Name}");
}
