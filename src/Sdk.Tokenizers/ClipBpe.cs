using Diffusion.Sdk.Abstractions;
using Microsoft.ML.Tokenizers;

namespace Diffusion.Sdk.Tokenizers;

/// <summary>
/// CLIP's byte-level BPE over one pre-tokenised word, run by Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>
/// (byte-level, end-of-word suffix <c>&lt;/w&gt;</c>), which caches each word's result.
/// </summary>
internal sealed class ClipBpe
{
    public const string EndOfWord = "</w>";

    private readonly BpeTokenizer _bpe;

    public ClipBpe(Dictionary<string, int> vocabulary, List<string> merges)
    {
        _bpe = BpeTokenizer.Create(new BpeOptions(vocabulary)
        {
            Merges = merges,
            ByteLevel = true,
            EndOfWordSuffix = EndOfWord,
        });
    }

    /// <summary>Appends the ids of <paramref name="word"/> (one pre-token, not byte-mapped) to <paramref name="ids"/>.</summary>
    public void Encode(ReadOnlySpan<char> word, List<int> ids) =>
        ids.AddRange(_bpe.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false));

    /// <summary>Appends the BPE token strings of <paramref name="word"/> to <paramref name="tokens"/>.</summary>
    public void EncodeToTokens(ReadOnlySpan<char> word, List<string> tokens)
    {
        foreach (var token in _bpe.EncodeToTokens(word, out _, considerPreTokenization: false, considerNormalization: false))
            tokens.Add(token.Value);
    }
}
