using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>One tokenizer and text encoder pair of an SDXL export (<c>tokenizer/</c> + <c>text_encoder/</c>, or the <c>_2</c> pair).</summary>
/// <param name="Name">The encoder's folder name, for messages.</param>
/// <param name="Tokenizer">Its tokenizer (each pads with its own token).</param>
/// <param name="Encoder">The encoder.</param>
public sealed record TextEncoderPair(string Name, IPromptTokenizer Tokenizer, OnnxTextEncoder Encoder);

/// <summary>
/// SDXL's prompt encoding, as diffusers' <c>encode_prompt</c> computes it for one text: each present encoder (in the
/// order text_encoder, text_encoder_2) gets the next of (prompt, prompt 2) — so the refiner, which has only
/// text_encoder_2, reads the first prompt, as in the reference —, tokenized by its own tokenizer (truncated to 77),
/// and gives its hidden state <c>hidden_states[-(clip_skip + 2)]</c>; the states are concatenated along the features,
/// and the pooled embedding is the projection model's <c>text_embeds</c>. Thread-safe.
/// </summary>
public sealed class SdxlTextEncoders
{
    /// <summary>The pairs in the reference's order; one or two.</summary>
    public IReadOnlyList<TextEncoderPair> Pairs { get; }

    private readonly int _pooledIndex;

    /// <summary>Checks that the encoders fit together: one has a pooled output; the sequence lengths agree.</summary>
    /// <exception cref="ModelLoadException">No encoder has a pooled output, or they cannot be concatenated.</exception>
    public SdxlTextEncoders(IReadOnlyList<TextEncoderPair> pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        if (pairs.Count is < 1 or > 2) throw new ArgumentException($"SDXL has one or two text encoders; {pairs.Count} were given.", nameof(pairs));
        Pairs = pairs;
        // The reference keeps the first pooled embedding it meets (output 0 of rank 2: the projection model's).
        _pooledIndex = Enumerable.Range(0, pairs.Count).FirstOrDefault(i => pairs[i].Encoder.PooledOutputName is not null, -1);
        if (_pooledIndex < 0)
            throw new ModelLoadException($"None of {string.Join(", ", pairs.Select(p => p.Encoder.File))} has a pooled output ('text_embeds'), which an SDXL UNet takes as text_embeds; the text_encoder_2 export should be CLIPTextModelWithProjection.");
        var lengths = pairs.Select(p => p.Tokenizer.ModelMaxLength).Distinct().ToList();
        if (lengths.Count > 1)
            throw new ModelLoadException($"The tokenizers frame prompts to different lengths ({string.Join(" and ", pairs.Select(p => $"{p.Name}: {p.Tokenizer.ModelMaxLength}"))}); their hidden states cannot be concatenated.");
    }

    /// <summary>Tokens per prompt (77).</summary>
    public int Tokens => Pairs[0].Tokenizer.ModelMaxLength;

    /// <summary>Encodes one text pair.</summary>
    /// <param name="prompt">The first encoder's text.</param>
    /// <param name="prompt2">The second encoder's text (the reference's <c>prompt_2 or prompt</c>: null or empty gives <paramref name="prompt"/>).</param>
    /// <param name="fromEnd">Which hidden state, from the end: 2 + clip skip.</param>
    /// <param name="cancellationToken">Checked before each encoder; stops the encoder call in flight.</param>
    /// <returns>The embeddings [tokens, width₁ + width₂] and the pooled embedding.</returns>
    public (float[] Embeddings, float[] Pooled) Encode(string prompt, string? prompt2, int fromEnd, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        string[] texts = [prompt, string.IsNullOrEmpty(prompt2) ? prompt : prompt2];
        var states = new float[Pairs.Count][];
        float[]? pooled = null;
        for (var i = 0; i < Pairs.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (hidden, p) = Pairs[i].Encoder.EncodeHiddenState(Pairs[i].Tokenizer.Encode(texts[i]), fromEnd, cancellationToken);
            states[i] = hidden;
            if (i == _pooledIndex) pooled = p;
        }
        return (Concatenate(states, Tokens), pooled!);
    }

    /// <summary>Concatenates per-token rows along the features: token t is [state₀[t] | state₁[t] | …].</summary>
    internal static float[] Concatenate(float[][] states, int tokens)
    {
        if (states.Length == 1) return states[0];
        var widths = states.Select(s => s.Length / tokens).ToArray();
        var total = widths.Sum();
        var result = new float[tokens * total];
        for (var t = 0; t < tokens; t++)
        {
            var offset = t * total;
            for (var i = 0; i < states.Length; i++)
            {
                states[i].AsSpan(t * widths[i], widths[i]).CopyTo(result.AsSpan(offset));
                offset += widths[i];
            }
        }
        return result;
    }
}
