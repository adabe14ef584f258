using Diffusion.Sdk.Abstractions;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Diffusion.Sdk.Tokenizers;

/// <summary>
/// Python's <c>html.unescape</c>, which openai's CLIP tokenizer applies twice to every prompt: HTML5 named character
/// references (with the legacy forms that lack the ';'), decimal and hexadecimal references, and the HTML5 parser's
/// repairs of invalid numeric references.
/// </summary>
/// <remarks>
/// .NET's <see cref="System.Net.WebUtility.HtmlDecode(string)"/> knows only HTML 4's names and wants the ';', so
/// <c>&amp;amp</c>, <c>&amp;#39</c> or <c>&amp;NotEqualTilde;</c> would stay as written where the reference decodes them.
/// The names come from <c>Resources/html5-entities.tsv</c>, the WHATWG list as Python 3.11 ships it.
/// </remarks>
internal static partial class HtmlUnescaper
{
    /// <summary>
    /// What the HTML5 parser puts for a numeric reference to U+0000, CR and the C1 controls 0x80–0x9F: the
    /// windows-1252 character of that byte, or the control itself where windows-1252 has none.
    /// </summary>
    private const string Windows1252 =
        "\u20AC\u0081\u201A\u0192\u201E\u2026\u2020\u2021\u02C6\u2030\u0160\u2039\u0152\u008D\u017D\u008F" +
        "\u0090\u2018\u2019\u201C\u201D\u2022\u2013\u2014\u02DC\u2122\u0161\u203A\u0153\u009D\u017E\u0178";

    private static readonly Lazy<Dictionary<string, string>> Entities = new(LoadEntities);

    [GeneratedRegex(@"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)", RegexOptions.CultureInvariant)]
    private static partial Regex CharacterReference();

    /// <summary>Decodes every character reference in <paramref name="text"/>, once.</summary>
    public static string Unescape(string text) =>
        text.Contains('&') ? CharacterReference().Replace(text, m => Replace(m.Groups[1].Value)) : text;

    private static string Replace(string reference)
    {
        if (reference[0] == '#') return Numeric(reference);

        var entities = Entities.Value;
        if (entities.TryGetValue(reference, out var value)) return value;
        // The longest known name that starts the reference wins; the rest stays as text (only the legacy names
        // without ';' can match this way).
        for (var length = reference.Length - 1; length > 1; length--)
        {
            if (entities.TryGetValue(reference[..length], out value)) return value + reference[length..];
        }
        return "&" + reference;
    }

    private static string Numeric(string reference)
    {
        var hex = reference[1] is 'x' or 'X';
        var digits = reference.AsSpan(hex ? 2 : 1).TrimEnd(';');
        // Python's int() has no overflow: anything past 0x10FFFF, however long, is out of range.
        var inRange = long.TryParse(digits, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out var number)
                      && number <= 0x10FFFF;
        if (!inRange) return "\uFFFD";
        if (number == 0) return "\uFFFD";
        if (number == 0x0D) return "\r";
        if (number is >= 0x80 and <= 0x9F) return Windows1252[(int)number - 0x80].ToString();
        if (number is >= 0xD800 and <= 0xDFFF) return "\uFFFD";
        if (IsInvalidCodePoint((int)number)) return "";
        return char.ConvertFromUtf32((int)number);
    }

    /// <summary>Control characters and permanent non-characters, which the reference drops.</summary>
    private static bool IsInvalidCodePoint(int codePoint) =>
        codePoint is >= 0x01 and <= 0x08 or 0x0B or >= 0x0E and <= 0x1F or >= 0x7F and <= 0x9F or >= 0xFDD0 and <= 0xFDEF
        || (codePoint & 0xFFFE) == 0xFFFE;

    private static Dictionary<string, string> LoadEntities()
    {
        using var stream = typeof(HtmlUnescaper).Assembly.GetManifestResourceStream("Diffusion.Sdk.Tokenizers.Resources.html5-entities.tsv")
            ?? throw new InvalidOperationException("The HTML entity table is missing from the assembly.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var entities = new Dictionary<string, string>(2300, StringComparer.Ordinal);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var tab = line.IndexOf('\t');
            var text = new StringBuilder(2);
            foreach (var codePoint in line[(tab + 1)..].Split(' '))
                text.Append(char.ConvertFromUtf32(int.Parse(codePoint, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)));
            entities[line[..tab]] = text.ToString();
        }
        return entities;
    }
}
