using System.Globalization;
using System.Text.RegularExpressions;
using Diffusion.Sdk.Tokenizers;

namespace Diffusion.Sdk.Tests.Prompts;

/// <summary>
/// The reference's parsing rule written as TestData/prompts/README.md states it: the regular expression's pieces, a
/// stack of start positions per bracket kind, and each closing bracket multiplying the whole range after its start
/// (quadratic, which is fine for short test prompts). The SDK's parser must agree with it exactly.
/// </summary>
internal static class RangeMultiplyingParser
{
    private static readonly Regex Pieces = new(@"\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:([+-]?[.\d]+)\)|\)|]|[^\\()\[\]:]+|:", RegexOptions.CultureInvariant);

    /// <summary>The pieces and weights, or null where the reference's float() would raise.</summary>
    public static WeightedText[]? Parse(string prompt)
    {
        var res = new List<(string Text, double Weight)>();
        var round = new Stack<int>();
        var square = new Stack<int>();
        void MultiplyRange(int start, double multiplier)
        {
            for (var p = start; p < res.Count; p++) res[p] = (res[p].Text, res[p].Weight * multiplier);
        }
        foreach (Match m in Pieces.Matches(prompt))
        {
            var text = m.Value;
            var weight = m.Groups[1].Success ? m.Groups[1].Value : null;
            if (text.StartsWith('\\')) res.Add((text[1..], 1.0));
            else if (text == "(") round.Push(res.Count);
            else if (text == "[") square.Push(res.Count);
            else if (weight is not null && round.Count > 0)
            {
                if (!double.TryParse(weight, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var w)) return null;
                MultiplyRange(round.Pop(), w);
            }
            else if (text == ")" && round.Count > 0) MultiplyRange(round.Pop(), 1.1);
            else if (text == "]" && square.Count > 0) MultiplyRange(square.Pop(), 1 / 1.1);
            else res.Add((text, 1.0));
        }
        foreach (var start in round.Reverse()) MultiplyRange(start, 1.1);   // the reference walks its list from the bottom
        foreach (var start in square.Reverse()) MultiplyRange(start, 1 / 1.1);
        if (res.Count == 0) res.Add(("", 1.0));
        for (var i = 0; i + 1 < res.Count;)
        {
            if (res[i].Weight == res[i + 1].Weight)
            {
                res[i] = (res[i].Text + res[i + 1].Text, res[i].Weight);
                res.RemoveAt(i + 1);
            }
            else i++;
        }
        return res.Select(r => new WeightedText(r.Text, r.Weight)).ToArray();
    }
}
