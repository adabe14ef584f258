namespace Diffusion.Sdk.Tokenizers;

/// <summary>
/// A long prompt cut into windows the text encoder can read, as the reference long-prompt pipeline
/// (<c>lpw_stable_diffusion</c>: <c>pad_tokens_and_weights</c>, <c>get_unweighted_text_embeddings</c>) cuts it:
/// each window is <c>[BOS] + 75 ids + [EOS]</c> (<see cref="ClipTokenizer.ModelMaxLength"/> ids), the windows are
/// encoded separately and their outputs concatenated, begin and end tokens of every window included.
/// </summary>
/// <remarks>
/// The ids are laid out as the reference pads them: <c>[BOS] + ids + [PAD] × (75k − n) + [EOS]</c>, then window
/// <c>i</c> is positions <c>75i … 75i + 76</c> of that sequence with its first id set to BOS and its last to EOS. The
/// end token therefore comes after the padding, not right after the text: with a tokenizer that pads with its end
/// token (SD 1.x) a short prompt gets exactly the standard pipeline's ids, but with one that pads with <c>!</c>
/// (SD 2.x) it does not (the standard pipeline puts EOS right after the text).
/// </remarks>
public sealed class PromptWindows
{
    private readonly int[] _ids;

    private PromptWindows(int count, int windowLength, int[] paddedIds, int[] ids, float[] positionWeights)
    {
        Count = count;
        WindowLength = windowLength;
        PaddedIds = paddedIds;
        _ids = ids;
        PositionWeights = positionWeights;
    }

    /// <summary>The number of windows, k.</summary>
    public int Count { get; }

    /// <summary>Ids per window: the tokenizer's <see cref="ClipTokenizer.ModelMaxLength"/> (77).</summary>
    public int WindowLength { get; }

    /// <summary>Positions in the concatenated embeddings: <see cref="Count"/> × <see cref="WindowLength"/>.</summary>
    public int Length => Count * WindowLength;

    /// <summary>The padded sequence the windows are cut from, <c>(WindowLength − 2)·k + 2</c> ids.</summary>
    public IReadOnlyList<int> PaddedIds { get; }

    /// <summary>Every window's ids, window after window (<see cref="Length"/> ids).</summary>
    public ReadOnlySpan<int> Ids => _ids;

    /// <summary>
    /// The weight of each position of the concatenated embeddings, as float32 (the reference's tensor type): 1.0 for
    /// every window's begin and end token and for padding, the token's weight elsewhere.
    /// </summary>
    public IReadOnlyList<float> PositionWeights { get; }

    /// <summary>The ids of window <paramref name="index"/>.</summary>
    public ReadOnlySpan<int> Window(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        return _ids.AsSpan(index * WindowLength, WindowLength);
    }

    /// <summary>
    /// How many windows a prompt and its negative prompt both get: enough for the longer of the two
    /// (<paramref name="longestTokenCount"/> ids), at least 1 and at most <paramref name="maxWindows"/>.
    /// </summary>
    /// <param name="longestTokenCount">The larger id count (after truncation) of the texts that share the windows.</param>
    /// <param name="maxWindows">The cap, the reference's <c>max_embeddings_multiples</c>.</param>
    /// <param name="tokensPerWindow">Ids between the begin and end tokens: <see cref="ClipTokenizer.ModelMaxLength"/> − 2.</param>
    public static int CountFor(int longestTokenCount, int maxWindows, int tokensPerWindow)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(longestTokenCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxWindows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokensPerWindow, 1);
        var needed = longestTokenCount == 0 ? 0 : (longestTokenCount - 1) / tokensPerWindow + 1;
        return Math.Max(1, Math.Min(maxWindows, needed));
    }

    /// <summary>Frames <paramref name="tokens"/> into <paramref name="count"/> windows.</summary>
    /// <param name="tokenizer">Gives the begin, end and pad ids and the window length.</param>
    /// <param name="tokens">The prompt's ids and weights; at most (window length − 2) × <paramref name="count"/> ids.</param>
    /// <param name="count">The number of windows (<see cref="CountFor"/>).</param>
    /// <exception cref="ArgumentException">The ids do not fit in <paramref name="count"/> windows.</exception>
    public static PromptWindows Frame(ClipTokenizer tokenizer, WeightedPromptTokens tokens, int count)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var windowLength = tokenizer.ModelMaxLength;
        var perWindow = windowLength - 2;
        var n = tokens.Ids.Count;
        if (n > perWindow * count)
            throw new ArgumentException($"{n} ids do not fit in {count} window{(count == 1 ? "" : "s")} of {perWindow}; cut them to {perWindow * count} first.", nameof(tokens));

        var padded = new int[perWindow * count + 2];
        padded[0] = tokenizer.BosTokenId;
        for (var i = 0; i < n; i++) padded[i + 1] = tokens.Ids[i];
        padded.AsSpan(n + 1, padded.Length - n - 2).Fill(tokenizer.PadTokenId);
        padded[^1] = tokenizer.EosTokenId;

        var ids = new int[windowLength * count];
        var weights = new float[windowLength * count];
        weights.AsSpan().Fill(1f);
        for (var w = 0; w < count; w++)
        {
            var window = ids.AsSpan(w * windowLength, windowLength);
            padded.AsSpan(w * perWindow, windowLength).CopyTo(window);
            window[0] = tokenizer.BosTokenId;
            window[^1] = tokenizer.EosTokenId;
            for (var p = 0; p < perWindow; p++)
            {
                var token = w * perWindow + p;
                if (token < n) weights[w * windowLength + 1 + p] = (float)tokens.Weights[token];
            }
        }
        return new PromptWindows(count, windowLength, padded, ids, weights);
    }
}
