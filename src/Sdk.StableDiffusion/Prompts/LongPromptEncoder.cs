using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Tokenizers;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// Prompts in the A1111 syntax and longer than one text-encoder window, encoded as diffusers' long-prompt-weighting
/// community pipeline (<c>lpw_stable_diffusion</c>) encodes them: parsed (<see cref="PromptAttentionParser"/>), each
/// piece tokenized on its own, cut to 75 × the window cap, framed into windows of 77 ids that all texts of a request
/// share (<see cref="PromptWindows"/>), every window through the text encoder, the outputs concatenated, and the
/// positions re-weighted with the mean-preserving renormalisation (<see cref="PromptWeighting"/>). Thread-safe.
/// </summary>
public sealed class LongPromptEncoder
{
    /// <summary>The reference's default <c>max_embeddings_multiples</c>: up to 3 windows, 225 tokens.</summary>
    public const int DefaultMaxWindows = 3;

    /// <summary>Uses <paramref name="tokenizer"/> and <paramref name="textEncoder"/>.</summary>
    public LongPromptEncoder(ClipTokenizer tokenizer, OnnxTextEncoder textEncoder)
    {
        Tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        TextEncoder = textEncoder ?? throw new ArgumentNullException(nameof(textEncoder));
    }

    /// <summary>The CLIP tokenizer.</summary>
    public ClipTokenizer Tokenizer { get; }

    /// <summary>The text encoder each window goes through.</summary>
    public OnnxTextEncoder TextEncoder { get; }

    /// <summary>Ids between a window's begin and end tokens (75).</summary>
    public int TokensPerWindow => Tokenizer.ModelMaxLength - 2;

    /// <summary>
    /// Parses, tokenizes and frames texts that share one number of windows (the prompts of a request and, under
    /// guidance, its negative prompt): enough windows for the longest, at most <paramref name="maxWindows"/>.
    /// No model runs.
    /// </summary>
    /// <param name="texts">The texts, in the A1111 syntax.</param>
    /// <param name="maxWindows">The window cap (the reference's <c>max_embeddings_multiples</c>), at least 1.</param>
    /// <returns>The windows of each text, in order.</returns>
    /// <exception cref="PromptSyntaxException">A text cannot be parsed.</exception>
    /// <exception cref="SamplingOptionException">A weight is not finite, or <paramref name="maxWindows"/> is below 1.</exception>
    public IReadOnlyList<PromptWindows> Frame(IReadOnlyList<string> texts, int maxWindows)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (maxWindows < 1)
            throw new SamplingOptionException("PromptMaxWindows", maxWindows.ToString(System.Globalization.CultureInfo.InvariantCulture), "a whole number of 77-token windows, at least 1 (the reference's default is 3)");
        var tokens = new WeightedPromptTokens[texts.Count];
        for (var i = 0; i < texts.Count; i++)
        {
            tokens[i] = WeightedPromptTokens.Parse(Tokenizer, texts[i], TokensPerWindow * maxWindows);
            if (tokens[i].Weights.FirstOrDefault(w => !double.IsFinite(w), 1.0) is var bad && !double.IsFinite(bad))
                throw new SamplingOptionException("Prompt", texts[i], $"weights that are finite numbers; a weight here multiplies out to {bad}");
        }
        var longest = tokens.Length == 0 ? 0 : tokens.Max(t => t.Ids.Count);
        var count = PromptWindows.CountFor(longest, maxWindows, TokensPerWindow);
        return tokens.Select(t => PromptWindows.Frame(Tokenizer, t, count)).ToArray();
    }

    /// <summary>The text encoder's output for every window, concatenated: [windows × 77, width], not re-weighted.</summary>
    /// <param name="windows">The framed windows.</param>
    /// <param name="cancellationToken">Checked before each window; stops the encoder call in flight.</param>
    public float[] EncodeUnweighted(PromptWindows windows, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(windows);
        float[]? all = null;
        for (var w = 0; w < windows.Count; w++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var hidden = TextEncoder.Encode(windows.Window(w).ToArray(), cancellationToken);
            all ??= new float[hidden.Length * windows.Count];
            hidden.CopyTo(all, w * hidden.Length);
        }
        return all!;
    }

    /// <summary>The embeddings of <paramref name="windows"/>: <see cref="EncodeUnweighted"/>, then re-weighted (<see cref="PromptWeighting.Apply"/>).</summary>
    /// <exception cref="SamplingOptionException">The weighted embeddings average to exactly 0, so the renormalisation is undefined.</exception>
    /// <param name="windows">The framed windows.</param>
    /// <param name="cancellationToken">Checked before each window; stops the encoder call in flight.</param>
    public float[] Encode(PromptWindows windows, CancellationToken cancellationToken = default)
    {
        var embeddings = EncodeUnweighted(windows, cancellationToken);
        var scalars = PromptWeighting.Apply(embeddings, windows.PositionWeights);
        if (!float.IsFinite(scalars.Factor))
            throw new SamplingOptionException("Prompt", "(weighted)", $"weights whose embeddings do not average to 0: the mean-preserving renormalisation divides by that mean ({scalars.MeanAfter}); change a weight slightly");
        return embeddings;
    }
}
