using Diffusion.Sdk.Abstractions;
using System.Globalization;
using System.Text;

namespace Diffusion.Sdk.Tokenizers;

/// <summary>
/// Splits cleaned text into the words CLIP's BPE runs on, as openai's pattern
/// <c>&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>
/// does with Python's <c>regex</c> module: at each position the first alternative that matches wins, whitespace
/// between matches is dropped.
/// </summary>
/// <remarks>
/// Written as a scanner over code points rather than a .NET <see cref="System.Text.RegularExpressions.Regex"/>:
/// .NET's regex classifies UTF-16 code units, so a letter or digit outside the BMP (𝐀, 𠀀, 𝟏) would fall into the
/// punctuation class, where Python's regex sees a letter or a number.
/// </remarks>
internal static class ClipPreTokenizer
{
    public const string StartOfText = "<|startoftext|>";
    public const string EndOfText = "<|endoftext|>";

    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

    /// <summary>Appends each word of <paramref name="text"/> as a (start, length) range in UTF-16 code units.</summary>
    public static void Split(string text, List<Range> words)
    {
        var i = 0;
        while (i < text.Length)
        {
            var rune = RuneAt(text, i);
            if (ClipTextCleaner.IsPatternWhiteSpace(rune.Value))
            {
                i += rune.Utf16SequenceLength;
                continue;
            }
            var length = MatchLength(text, i, rune);
            words.Add(new Range(i, i + length));
            i += length;
        }
    }

    private static int MatchLength(string text, int start, Rune first)
    {
        var rest = text.AsSpan(start);
        if (rest.StartsWith(StartOfText, StringComparison.Ordinal)) return StartOfText.Length;
        if (rest.StartsWith(EndOfText, StringComparison.Ordinal)) return EndOfText.Length;
        if (first.Value == '\'')
        {
            foreach (var contraction in Contractions)
                if (rest.StartsWith(contraction, StringComparison.Ordinal)) return contraction.Length;
        }

        var kind = Classify(first);
        if (kind == CharKind.Number) return first.Utf16SequenceLength;

        var end = start + first.Utf16SequenceLength;
        while (end < text.Length)
        {
            var next = RuneAt(text, end);
            if (Classify(next) != kind) break;
            end += next.Utf16SequenceLength;
        }
        return end - start;
    }

    private enum CharKind { Space, Letter, Number, Other }

    private static CharKind Classify(Rune rune)
    {
        if (ClipTextCleaner.IsPatternWhiteSpace(rune.Value)) return CharKind.Space;
        switch (Rune.GetUnicodeCategory(rune))
        {
            case UnicodeCategory.UppercaseLetter:
            case UnicodeCategory.LowercaseLetter:
            case UnicodeCategory.TitlecaseLetter:
            case UnicodeCategory.ModifierLetter:
            case UnicodeCategory.OtherLetter:
                return CharKind.Letter;
            case UnicodeCategory.DecimalDigitNumber:
            case UnicodeCategory.LetterNumber:
            case UnicodeCategory.OtherNumber:
                return CharKind.Number;
            default:
                return CharKind.Other;
        }
    }

    /// <summary>The code point at <paramref name="index"/>; a lone surrogate reads as U+FFFD, as UTF-8 encodes it.</summary>
    private static Rune RuneAt(string text, int index)
    {
        Rune.DecodeFromUtf16(text.AsSpan(index), out var rune, out _);
        return rune;
    }
}
