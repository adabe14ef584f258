using Diffusion.Sdk.Abstractions;
using System.Text;

namespace Diffusion.Sdk.Tokenizers;

/// <summary>
/// CLIP's text cleaning before pre-tokenisation, as openai's <c>simple_tokenizer.py</c> does it without ftfy:
/// HTML entities decoded twice, surrounding whitespace stripped, every whitespace run made one space, then lower case.
/// </summary>
/// <remarks>
/// Whitespace is Unicode White_Space (Python's <c>regex</c> <c>\s</c>), and lower-casing is Python's <c>str.lower</c>: per-code-point lower case, U+0130 to "i̇", and a
/// capital sigma at the end of a word to the final form ς. No Unicode normalisation is applied (see docs/text-to-image.md).
/// </remarks>
internal static class ClipTextCleaner
{
    public static string Clean(string text)
    {
        var unescaped = HtmlUnescaper.Unescape(HtmlUnescaper.Unescape(text));
        var collapsed = CollapseWhitespace(unescaped);
        return PythonLower(collapsed);
    }

    /// <summary>
    /// Whitespace as the tokenizer's pattern sees it (the <c>regex</c> module's <c>\s</c>, Unicode White_Space), which
    /// is exactly .NET's <see cref="char.IsWhiteSpace(char)"/>.
    /// </summary>
    public static bool IsPatternWhiteSpace(int codePoint) => codePoint <= char.MaxValue && char.IsWhiteSpace((char)codePoint);

    /// <summary>Python's <c>str.isspace</c>, used by <c>str.strip</c>: the pattern's whitespace plus U+001C–U+001F.</summary>
    private static bool IsStripWhiteSpace(char c) => c is >= '\u001C' and <= '\u001F' || char.IsWhiteSpace(c);

    /// <summary>
    /// <c>regex.sub(r"\s+", " ", text.strip()).strip()</c>. The information separators U+001C–U+001F are stripped at
    /// the ends, as Python's <c>str.strip</c> does, but kept inside the text, where the pattern's <c>\s</c> leaves them.
    /// </summary>
    private static string CollapseWhitespace(string text)
    {
        var span = text.AsSpan();
        var start = 0;
        var end = span.Length;
        // One strip suffices: the text then starts and ends with a non-space, so Python's second strip finds nothing.
        while (start < end && IsStripWhiteSpace(span[start])) start++;
        while (end > start && IsStripWhiteSpace(span[end - 1])) end--;

        var builder = new StringBuilder(end - start);
        var inSpace = false;
        for (var i = start; i < end; i++)
        {
            var c = span[i];
            if (char.IsWhiteSpace(c))
            {
                if (!inSpace) builder.Append(' ');
                inSpace = true;
                continue;
            }
            inSpace = false;
            builder.Append(c);
        }
        return builder.ToString();
    }

    /// <summary>Python's <c>str.lower</c>: full lower-case mapping of each code point, with the final-sigma rule.</summary>
    private static string PythonLower(string text)
    {
        var builder = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length;)
        {
            Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out var consumed);
            if (rune.Value == 0x0130)
                builder.Append("i\u0307");
            else if (rune.Value == 0x03A3)
                builder.Append(IsFinalSigma(text, i) ? 'ς' : 'σ');
            else
                builder.Append(Rune.ToLowerInvariant(rune).ToString());
            i += consumed;
        }
        return builder.ToString();
    }

    /// <summary>
    /// Unicode's Final_Sigma condition: a cased character before (skipping case-ignorable characters) and none after.
    /// Checked against Python's <c>str.lower</c> on every code point both Unicode versions assign.
    /// </summary>
    private static bool IsFinalSigma(string text, int index)
    {
        var before = index;
        while (before > 0)
        {
            var rune = RuneBefore(text, before);
            before -= rune.Utf16SequenceLength;
            if (IsCaseIgnorable(rune)) continue;
            if (!IsCased(rune)) return false;
            goto LookAhead;
        }
        return false;

    LookAhead:
        var after = index + 1;
        while (after < text.Length)
        {
            Rune.DecodeFromUtf16(text.AsSpan(after), out var rune, out var consumed);
            after += consumed;
            if (IsCaseIgnorable(rune)) continue;
            return !IsCased(rune);
        }
        return true;
    }

    private static Rune RuneBefore(string text, int end)
    {
        Rune.DecodeLastFromUtf16(text.AsSpan(0, end), out var rune, out _);
        return rune;
    }

    /// <summary>Unicode's Cased: Lu, Ll, Lt, plus the Other_Uppercase and Other_Lowercase characters outside them.</summary>
    internal static bool IsCased(Rune rune) =>
        Rune.GetUnicodeCategory(rune) is System.Globalization.UnicodeCategory.UppercaseLetter
            or System.Globalization.UnicodeCategory.LowercaseLetter
            or System.Globalization.UnicodeCategory.TitlecaseLetter
        || rune.Value is 0xAA or 0xBA // ª º
            or >= 0x2160 and <= 0x217F // Roman numerals
            or >= 0x24B6 and <= 0x24E9 // circled Latin letters
            or >= 0x1F130 and <= 0x1F149 or >= 0x1F150 and <= 0x1F169 or >= 0x1F170 and <= 0x1F189; // squared and circled capitals

    internal static bool IsCaseIgnorable(Rune rune) =>
        rune.Value is '\'' or '.' or ':' or '\u00B7' or '\u2018' or '\u2019' or '\u2024' or '\u2027' or '\u0387' or '\u055F' or '\u05F4'
            or '\uFE13' or '\uFE52' or '\uFE55' or '\uFF07' or '\uFF0E' or '\uFF1A'
        || Rune.GetUnicodeCategory(rune) is System.Globalization.UnicodeCategory.NonSpacingMark
            or System.Globalization.UnicodeCategory.EnclosingMark
            or System.Globalization.UnicodeCategory.Format
            or System.Globalization.UnicodeCategory.ModifierLetter
            or System.Globalization.UnicodeCategory.ModifierSymbol;
}
