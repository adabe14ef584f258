using Diffusion.Sdk.Abstractions;
namespace Diffusion.Sdk.Tokenizers;

/// <summary>
/// The CLIP tokenizer of Stable Diffusion's text encoder: turns a prompt into the fixed-length id sequence the text
/// encoder reads, from a model's <c>tokenizer</c> folder.
/// </summary>
/// <remarks>
/// <para>The ids are those of openai's <c>simple_tokenizer.py</c> (run without ftfy), framed as diffusers' pipelines
/// frame them: <c>[BOS] + ids[..(max - 2)] + [EOS]</c>, padded to <see cref="ModelMaxLength"/> with the folder's pad
/// token (<c>&lt;|endoftext|&gt;</c> for SD 1.x, <c>!</c> for SD 2.x).</para>
/// <para>How it is built: the byte-level BPE merges (bytes_to_unicode symbols, <c>&lt;/w&gt;</c> on each word's last
/// symbol, a cache of words up to 15 characters) are Microsoft.ML.Tokenizers' <c>BpeTokenizer</c>; the cleaning and the pre-tokenisation
/// before it are CLIP's own, written here. ML.Tokenizers alone, with its <c>LowerCaseNormalizer</c> and a
/// <c>RegexPreTokenizer</c> on CLIP's pattern, matches all 30 reference cases but only 3 of the 4 divergent inputs and
/// 336 of the 1,014 generated probes: it does not decode HTML entities, .NET's regex puts letters and digits outside
/// the BMP in the punctuation class and does not treat U+001C–U+001F as Python does, invariant lower-casing has no
/// final sigma and maps İ to i, and special tokens are split out before the pattern runs. With CLIP's cleaning
/// (<c>ClipTextCleaner</c>: Python's <c>html.unescape</c> twice, whitespace, <c>str.lower</c>) and pattern scanner
/// (<c>ClipPreTokenizer</c>) in front, the same BPE is exact on 30/30, 4/4 and 1,014/1,014.</para>
/// <para>Instances are immutable and safe to share between threads.</para>
/// </remarks>
public sealed class ClipTokenizer
{
    private readonly ClipBpe _bpe;

    private ClipTokenizer(ClipTokenizerFiles files)
    {
        _bpe = new ClipBpe(files.Vocabulary, files.Merges);
        ModelMaxLength = files.ModelMaxLength;
        BosTokenId = files.Vocabulary[files.BosToken];
        EosTokenId = files.Vocabulary[files.EosToken];
        PadTokenId = files.Vocabulary[files.PadToken];
        StartOfTextId = files.Vocabulary.GetValueOrDefault(ClipPreTokenizer.StartOfText, -1);
        EndOfTextId = files.Vocabulary.GetValueOrDefault(ClipPreTokenizer.EndOfText, -1);
        HighestId = files.Vocabulary.Count == 0 ? -1 : files.Vocabulary.Values.Max();
        // The longest token, in byte-mapped characters (one per UTF-8 byte), without the end-of-word suffix.
        _longestToken = Math.Max(1, files.Vocabulary.Keys.Select(k => k.EndsWith(ClipBpe.EndOfWord, StringComparison.Ordinal) ? k.Length - ClipBpe.EndOfWord.Length : k.Length).DefaultIfEmpty(1).Max());
    }

    // Encode keeps ModelMaxLength − 2 ids; a word is cut before its BPE to what can give that many and this many more,
    // so that the merges near the cut cannot reach the ids kept.
    private const int CutMarginTokens = 16;
    private readonly int _longestToken;

    /// <summary>
    /// Reads a Hugging Face CLIP tokenizer folder: <c>vocab.json</c>, <c>merges.txt</c> and <c>tokenizer_config.json</c>,
    /// and <c>special_tokens_map.json</c> when present (its tokens override the config's, as in transformers).
    /// </summary>
    /// <param name="folder">The folder, typically a diffusers model's <c>tokenizer</c> subfolder.</param>
    /// <exception cref="TokenizerException">A file is missing or malformed; the exception names it.</exception>
    public static ClipTokenizer FromFolder(string folder) => new(ClipTokenizerFiles.Read(folder));

    /// <summary>The length of every <see cref="Encode(string)"/> result, <c>model_max_length</c> of <c>tokenizer_config.json</c> (77 for CLIP).</summary>
    public int ModelMaxLength { get; }

    /// <summary>The id that starts every sequence (<c>&lt;|startoftext|&gt;</c>, 49406).</summary>
    public int BosTokenId { get; }

    /// <summary>The id that ends every sequence (<c>&lt;|endoftext|&gt;</c>, 49407); the text encoder pools there.</summary>
    public int EosTokenId { get; }

    /// <summary>The id that fills a sequence after the end token: 49407 for SD 1.x, 0 (<c>!</c>) for SD 2.x.</summary>
    public int PadTokenId { get; }

    /// <summary>The highest id of the vocabulary (what the text encoder's table must hold), or −1 for an empty one.</summary>
    internal int HighestId { get; }

    /// <summary>The id of <c>&lt;|startoftext|&gt;</c> written in the text, or -1 when the vocabulary lacks it.</summary>
    private int StartOfTextId { get; }

    /// <summary>The id of <c>&lt;|endoftext|&gt;</c> written in the text, or -1 when the vocabulary lacks it.</summary>
    private int EndOfTextId { get; }

    /// <summary>The BPE ids of <paramref name="text"/>, without the begin and end tokens and not truncated.</summary>
    /// <param name="text">The prompt; null is read as the empty prompt.</param>
    public IReadOnlyList<int> Tokenize(string text) => Tokenize(text, int.MaxValue);

    /// <summary>
    /// The first <paramref name="limit"/> (or more) BPE ids of <paramref name="text"/>, in time linear in the text: words after
    /// the limit is reached are not encoded, and a word is cut before its BPE (quadratic in the word's length) to
    /// (<paramref name="limit"/> + 16) × the longest token's bytes, which cannot give fewer ids than are kept. The ids
    /// kept are those of the whole text unless merges reach across more than 16 tokens from the cut.
    /// </summary>
    private List<int> Tokenize(string text, int limit)
    {
        var ids = new List<int>();
        var cleaned = ClipTextCleaner.Clean(text ?? "");
        var wordCap = limit == int.MaxValue ? int.MaxValue : (int)Math.Min(int.MaxValue, ((long)limit + CutMarginTokens) * _longestToken);
        foreach (var word in SplitWords(cleaned))
        {
            if (ids.Count >= limit) break;
            var span = cleaned.AsSpan(word);
            if (span.Length > wordCap)
            {
                // Never cut a surrogate pair in two: that would change the bytes of the last character kept.
                var cut = char.IsHighSurrogate(span[wordCap - 1]) ? wordCap - 1 : wordCap;
                span = span[..cut];
            }
            var special = SpecialId(span);
            if (special >= 0)
                ids.Add(special);
            else
                _bpe.Encode(span, ids);
        }
        return ids;
    }

    /// <summary>
    /// The text encoder's input for <paramref name="text"/>: the begin token, the first <see cref="ModelMaxLength"/> − 2
    /// BPE ids, the end token, then <see cref="PadTokenId"/> up to <see cref="ModelMaxLength"/> ids.
    /// </summary>
    /// <param name="text">The prompt; null or empty gives the unconditional input (begin, end, padding).</param>
    public int[] Encode(string text)
    {
        var result = new int[ModelMaxLength];
        Encode(text, result);
        return result;
    }

    /// <summary>
    /// Writes <see cref="Encode(string)"/>'s <see cref="ModelMaxLength"/> ids into <paramref name="destination"/>, for
    /// filling one row of a batch buffer in place.
    /// </summary>
    /// <param name="text">The prompt; null or empty gives the unconditional input.</param>
    /// <param name="destination">At least <see cref="ModelMaxLength"/> ids long; only the first <see cref="ModelMaxLength"/> are written.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="ModelMaxLength"/>.</exception>
    public void Encode(string text, Span<int> destination)
    {
        if (destination.Length < ModelMaxLength)
            throw new ArgumentException($"The destination holds {destination.Length} ids; the tokenizer writes {ModelMaxLength} (model_max_length).", nameof(destination));
        var ids = Tokenize(text, ModelMaxLength - 2);
        var kept = Math.Min(ids.Count, ModelMaxLength - 2);
        destination[0] = BosTokenId;
        for (var i = 0; i < kept; i++) destination[i + 1] = ids[i];
        destination[kept + 1] = EosTokenId;
        destination[(kept + 2)..ModelMaxLength].Fill(PadTokenId);
    }

    /// <summary>The BPE token strings of <paramref name="text"/> (byte-mapped, <c>&lt;/w&gt;</c> ending each word).</summary>
    internal IReadOnlyList<string> TokenizeToStrings(string text)
    {
        var tokens = new List<string>();
        var cleaned = ClipTextCleaner.Clean(text ?? "");
        foreach (var word in SplitWords(cleaned))
        {
            var span = cleaned.AsSpan(word);
            if (SpecialId(span) >= 0)
                tokens.Add(span.ToString());
            else
                _bpe.EncodeToTokens(span, tokens);
        }
        return tokens;
    }

    private static List<Range> SplitWords(string cleaned)
    {
        var words = new List<Range>();
        ClipPreTokenizer.Split(cleaned, words);
        return words;
    }

    /// <summary>openai's BPE cache starts with the two special tokens mapped to themselves, so they stay whole.</summary>
    private int SpecialId(ReadOnlySpan<char> word) =>
        word.SequenceEqual(ClipPreTokenizer.StartOfText) ? StartOfTextId
        : word.SequenceEqual(ClipPreTokenizer.EndOfText) ? EndOfTextId
        : -1;
}
