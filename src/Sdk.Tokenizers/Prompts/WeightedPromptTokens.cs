namespace Diffusion.Sdk.Tokenizers;

/// <summary>
/// A prompt's BPE ids, each with the weight of the piece of text it came from, as the reference's
/// <c>get_prompts_with_weights</c> makes them: every piece of <see cref="PromptAttentionParser.Parse"/> is tokenized
/// on its own (so the text is cut at every bracket), without begin and end tokens, and the whole list is cut to a
/// maximum number of tokens.
/// </summary>
public sealed class WeightedPromptTokens
{
    private WeightedPromptTokens(int[] ids, double[] weights, int countBeforeTruncation)
    {
        Ids = ids;
        Weights = weights;
        CountBeforeTruncation = countBeforeTruncation;
    }

    /// <summary>The ids, at most the maximum given.</summary>
    public IReadOnlyList<int> Ids { get; }

    /// <summary>The weight of each id, in double precision as parsed.</summary>
    public IReadOnlyList<double> Weights { get; }

    /// <summary>How many ids the whole prompt has.</summary>
    public int CountBeforeTruncation { get; }

    /// <summary>Whether ids were cut off.</summary>
    public bool Truncated => CountBeforeTruncation > Ids.Count;

    /// <summary>Tokenizes parsed pieces of a prompt and keeps the first <paramref name="maxTokens"/> ids.</summary>
    /// <param name="tokenizer">The CLIP tokenizer.</param>
    /// <param name="pieces">The pieces, e.g. from <see cref="PromptAttentionParser.Parse"/>.</param>
    /// <param name="maxTokens">How many ids to keep (the reference keeps 75 × its <c>max_embeddings_multiples</c>).</param>
    public static WeightedPromptTokens From(ClipTokenizer tokenizer, IReadOnlyList<WeightedText> pieces, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(pieces);
        ArgumentOutOfRangeException.ThrowIfNegative(maxTokens);
        var ids = new List<int>();
        var weights = new List<double>();
        foreach (var piece in pieces)
        {
            var pieceIds = tokenizer.Tokenize(piece.Text);
            ids.AddRange(pieceIds);
            for (var i = 0; i < pieceIds.Count; i++) weights.Add(piece.Weight);
        }
        var kept = Math.Min(ids.Count, maxTokens);
        return new WeightedPromptTokens(ids.GetRange(0, kept).ToArray(), weights.GetRange(0, kept).ToArray(), ids.Count);
    }

    /// <summary>Parses <paramref name="prompt"/> in the A1111 syntax and tokenizes it (<see cref="From"/>).</summary>
    /// <exception cref="PromptSyntaxException">The prompt cannot be parsed.</exception>
    public static WeightedPromptTokens Parse(ClipTokenizer tokenizer, string? prompt, int maxTokens) =>
        From(tokenizer, PromptAttentionParser.Parse(prompt), maxTokens);
}
