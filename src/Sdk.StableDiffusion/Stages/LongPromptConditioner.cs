using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Tokenizers;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// Stable Diffusion 1.x/2.x conditioning for prompts in the A1111 syntax and longer than one window, as the reference
/// long-prompt-weighting pipeline's <c>_encode_prompt</c> builds it: every prompt of the request and, under guidance,
/// the negative prompt (<c>""</c> when there is none) framed into the same number of 77-token windows
/// (<see cref="LongPromptEncoder"/>), each distinct text encoded once and re-weighted, the negative rows first
/// (<c>cat([negative, prompt])</c>). The UNet then receives 77 × windows tokens per row.
/// </summary>
public sealed class LongPromptConditioner : IConditioner
{
    private readonly OnnxDiffusionModel? _unet;

    /// <summary>Uses <paramref name="encoder"/>; <paramref name="unet"/>, when given, is checked to take the token count.</summary>
    public LongPromptConditioner(LongPromptEncoder encoder, OnnxDiffusionModel? unet = null)
    {
        Encoder = encoder ?? throw new ArgumentNullException(nameof(encoder));
        _unet = unet;
    }

    /// <summary>The tokenizer and text encoder.</summary>
    public LongPromptEncoder Encoder { get; }

    /// <inheritdoc/>
    /// <exception cref="PromptSyntaxException">A prompt cannot be parsed.</exception>
    /// <exception cref="SamplingOptionException">The window cap is below 1, a weight is not finite, or the UNet takes
    /// encoder hidden states of a fixed length other than the prompts need.</exception>
    public void Check(ConditioningContext context) => Frame(context);

    /// <inheritdoc/>
    public ModelConditioning Build(ConditioningContext context, CancellationToken cancellationToken)
    {
        var (texts, windows) = Frame(context);
        var embeddings = new Dictionary<string, float[]>(StringComparer.Ordinal);
        for (var i = 0; i < texts.Length; i++)
        {
            if (embeddings.ContainsKey(texts[i])) continue;
            cancellationToken.ThrowIfCancellationRequested();
            embeddings[texts[i]] = Encoder.Encode(windows[i], cancellationToken);
        }

        var batch = context.Batch;
        var rows = context.Guided ? 2 * batch : batch;
        var perRow = embeddings[context.Prompts[0]].Length;
        var hidden = new float[checked(rows * perRow)];
        var first = rows - batch; // the prompt rows follow the negative ones
        if (context.Guided)
        {
            var negative = embeddings[NegativeText(context)];
            for (var b = 0; b < batch; b++) negative.CopyTo(hidden, b * perRow);
        }
        for (var b = 0; b < batch; b++) embeddings[context.Prompts[b / context.ImagesPerPrompt]].CopyTo(hidden, (first + b) * perRow);
        return new ModelConditioning(rows, context.Guided, encoderHiddenStates: hidden);
    }

    // The reference pads every text of a call (the prompts and, under guidance, the negative) to one window count.
    private (string[] Texts, IReadOnlyList<PromptWindows> Windows) Frame(ConditioningContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var texts = context.Prompts.ToList();
        if (context.Guided) texts.Add(NegativeText(context));
        var distinct = texts.Distinct(StringComparer.Ordinal).ToArray();
        var windows = Encoder.Frame(distinct, context.Request.PromptMaxWindows);
        var tokens = windows[0].Length;
        if (_unet?.Signature is { HiddenStatesName: { } input, HiddenStatesSequence: { } fixedTokens } && fixedTokens != tokens)
            throw new SamplingOptionException(nameof(StableDiffusionRequest.PromptMaxWindows), windows[0].Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                $"{fixedTokens / windows[0].WindowLength} window(s): the UNet {_unet.ModelPath} takes exactly {fixedTokens} tokens of '{input}', and these prompts need " +
                $"{windows[0].Count} windows ({tokens} tokens). Shorten the prompt and negative prompt to {Encoder.TokensPerWindow} tokens, or set PromptMaxWindows = 1 to cut them there");
        return (distinct, windows);
    }

    private static string NegativeText(ConditioningContext context) => context.Request.NegativePrompt ?? "";
}
