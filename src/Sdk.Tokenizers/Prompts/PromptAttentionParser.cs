using System.Globalization;
using System.Text;

namespace Diffusion.Sdk.Tokenizers;

/// <summary>
/// Reads the A1111 attention syntax as diffusers' long-prompt-weighting community pipeline
/// (<c>lpw_stable_diffusion.parse_prompt_attention</c>) reads it: <c>(text)</c> multiplies the weight of its text by
/// 1.1, <c>[text]</c> by 1/1.1, <c>(text:w)</c> by w, nesting multiplies, and <c>\(</c> <c>\)</c> <c>\[</c> <c>\]</c>
/// <c>\\</c> are the literal characters.
/// </summary>
/// <remarks>
/// <para>The reference cuts the prompt with a regular expression whose alternatives are, in order: the five escapes,
/// a lone <c>\</c> (which yields nothing), <c>(</c>, <c>[</c>, <c>:NUMBER)</c> (NUMBER = an optional sign, then decimal
/// digits and dots), <c>)</c>, <c>]</c>, a run of other characters, and a lone <c>:</c>. This scanner takes the same
/// pieces in one pass. A closing bracket with nothing open, a <c>:</c> not followed by a number and <c>)</c>, and
/// <c>:NUMBER)</c> with no <c>(</c> open are text. An unbalanced opening bracket is NOT text: at the end it weights
/// everything after it (1.1 for <c>(</c>, 1/1.1 for <c>[</c>), as the reference does. Pieces are then merged where
/// adjacent weights are exactly equal.</para>
/// <para>Weights are doubles multiplied in the reference's order (each closing bracket in turn, then the unclosed
/// round brackets from the outermost, then the unclosed square ones), so <c>((x))</c> is 1.2100000000000002 as in
/// Python. Digits are Unicode decimal digits, as Python's <c>\d</c> and <c>float</c> read them.</para>
/// <para>Cost: linear in the prompt's length (each piece folds at most <see cref="MaxOpenBrackets"/> multipliers),
/// no recursion. The reference multiplies whole ranges at each bracket, which is quadratic.</para>
/// </remarks>
public static class PromptAttentionParser
{
    /// <summary>The multiplier of <c>(text)</c>.</summary>
    public const double RoundMultiplier = 1.1;

    /// <summary>The multiplier of <c>[text]</c>, 1/1.1 as a double (0.9090909090909091).</summary>
    public const double SquareMultiplier = 1 / 1.1;

    /// <summary>
    /// The most brackets that may be open at once (round and square together); one more is a
    /// <see cref="PromptSyntaxException"/>. The bound keeps parsing linear; the reference has none.
    /// </summary>
    public const int MaxOpenBrackets = 256;

    private const int NoBracket = -1;

    /// <summary>Splits <paramref name="prompt"/> into pieces of text and their weights.</summary>
    /// <param name="prompt">The prompt; null is read as empty.</param>
    /// <returns>At least one piece: <c>("", 1.0)</c> for a prompt with no text.</returns>
    /// <exception cref="PromptSyntaxException">A <c>(text:w)</c> weight is not a number (e.g. <c>1.2.3</c>; the
    /// reference's <c>float()</c> rejects it too), or more than <see cref="MaxOpenBrackets"/> brackets are open at once.</exception>
    public static IReadOnlyList<WeightedText> Parse(string? prompt)
    {
        var state = new ScanState(prompt ?? "");
        state.Scan();
        return state.Result();
    }

    /// <summary>One bracket: its enclosing bracket of the same kind, and when it closed with which multiplier.</summary>
    private struct Bracket
    {
        public int Below;          // the bracket under it on its stack when it was opened
        public bool Round;
        public int ClosedAt;       // order of closing among all brackets; -1 while open (or never closed)
        public double Multiplier;
    }

    /// <summary>
    /// The scan. The two bracket stacks are persistent linked lists (each bracket points at the one below it), so a
    /// piece records the stacks' state as two indices; its multipliers are folded once the scan knows how each
    /// bracket closed.
    /// </summary>
    private sealed class ScanState(string text)
    {
        private readonly List<Bracket> _brackets = [];
        private readonly List<(string Text, int RoundTop, int SquareTop)> _pieces = [];
        private int _roundTop = NoBracket, _squareTop = NoBracket, _open, _closings;

        public void Scan()
        {
            var i = 0;
            while (i < text.Length)
            {
                var c = text[i];
                switch (c)
                {
                    case '\\':
                        if (i + 1 < text.Length && text[i + 1] is '(' or ')' or '[' or ']' or '\\')
                        {
                            Append(text.Substring(i + 1, 1));
                            i += 2;
                        }
                        else
                        {
                            Append(""); // a lone backslash: the reference appends match[1:], the empty string
                            i++;
                        }
                        break;
                    case '(':
                    case '[':
                        Open(c == '(', i);
                        i++;
                        break;
                    case ':':
                        if (MatchWeight(i) is { } end)
                        {
                            if (_roundTop != NoBracket) Close(ref _roundTop, ParseWeight(i + 1, end - 1));
                            else Append(text[i..end]);
                            i = end;
                        }
                        else
                        {
                            Append(":");
                            i++;
                        }
                        break;
                    case ')':
                        if (_roundTop != NoBracket) Close(ref _roundTop, RoundMultiplier);
                        else Append(")");
                        i++;
                        break;
                    case ']':
                        if (_squareTop != NoBracket) Close(ref _squareTop, SquareMultiplier);
                        else Append("]");
                        i++;
                        break;
                    default:
                        var start = i;
                        while (i < text.Length && text[i] is not ('\\' or '(' or ')' or '[' or ']' or ':')) i++;
                        Append(text[start..i]);
                        break;
                }
            }
        }

        public List<WeightedText> Result()
        {
            var merged = new List<WeightedText>();
            if (_pieces.Count == 0)
            {
                merged.Add(new WeightedText("", 1.0));
                return merged;
            }
            var folder = new WeightFolder(_brackets);
            var run = new StringBuilder();
            double runWeight = 0;
            (int, int) lastState = (int.MinValue, int.MinValue);
            double lastWeight = 0;
            for (var p = 0; p < _pieces.Count; p++)
            {
                var (pieceText, roundTop, squareTop) = _pieces[p];
                // Pieces between two bracket events share their brackets, hence their weight: fold once per state.
                if ((roundTop, squareTop) != lastState)
                {
                    lastState = (roundTop, squareTop);
                    lastWeight = folder.Fold(roundTop, squareTop);
                }
                // The reference merges a piece into the run before it when the weights are exactly equal (==, so
                // NaN never merges and 0.0 merges with -0.0, keeping the run's first weight).
                if (p > 0 && lastWeight == runWeight)
                {
                    run.Append(pieceText);
                    continue;
                }
                if (p > 0) merged.Add(new WeightedText(run.ToString(), runWeight));
                run.Clear().Append(pieceText);
                runWeight = lastWeight;
            }
            merged.Add(new WeightedText(run.ToString(), runWeight));
            return merged;
        }

        private void Append(string piece) => _pieces.Add((piece, _roundTop, _squareTop));

        private void Open(bool round, int position)
        {
            if (_open == MaxOpenBrackets)
                throw new PromptSyntaxException(position, $"more than {MaxOpenBrackets} brackets are open at once; close some with ')' or ']', or write a literal bracket as '\\(' or '\\['.");
            ref var top = ref round ? ref _roundTop : ref _squareTop;
            _brackets.Add(new Bracket { Below = top, Round = round, ClosedAt = -1 });
            top = _brackets.Count - 1;
            _open++;
        }

        private void Close(ref int top, double multiplier)
        {
            var b = _brackets[top];
            b.ClosedAt = _closings++;
            b.Multiplier = multiplier;
            _brackets[top] = b;
            top = b.Below;
            _open--;
        }

        /// <summary>Where <c>:([+-]?[.\d]+)\)</c> starting at the colon at <paramref name="colon"/> ends (exclusive), or null.</summary>
        private int? MatchWeight(int colon)
        {
            var j = colon + 1;
            if (j < text.Length && text[j] is '+' or '-') j++;
            var k = j;
            while (k < text.Length)
            {
                if (text[k] == '.') k++;
                else if (DecimalDigit(k, out var width) >= 0) k += width;
                else break;
            }
            return k > j && k < text.Length && text[k] == ')' ? k + 1 : null;
        }

        /// <summary>Python's <c>float()</c> of the matched number: an optional sign, digits with at most one dot.</summary>
        private double ParseWeight(int start, int end)
        {
            var ascii = new StringBuilder(end - start);
            int digits = 0, dots = 0;
            for (var k = start; k < end;)
            {
                var digit = DecimalDigit(k, out var width);
                if (digit >= 0)
                {
                    ascii.Append((char)('0' + digit));
                    digits++;
                }
                else
                {
                    ascii.Append(text[k]); // '+', '-' or '.'
                    if (text[k] == '.') dots++;
                }
                k += width;
            }
            if (digits == 0 || dots > 1)
                throw new PromptSyntaxException(start, $"the weight '{text[start..end]}' in '(…:{text[start..end]})' is not a number; write it as e.g. 1.2 (the reference's float() rejects it too), or escape the parenthesis as '\\)' to keep the text.");
            return double.Parse(ascii.ToString(), NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
        }

        /// <summary>The value of the Unicode decimal digit (category Nd) at <paramref name="index"/>, or -1; <paramref name="width"/> is its UTF-16 length.</summary>
        private int DecimalDigit(int index, out int width)
        {
            var c = text[index];
            width = 1;
            if (c is >= '0' and <= '9') return c - '0';
            if (c < 128) return -1;
            if (Rune.DecodeFromUtf16(text.AsSpan(index), out var rune, out var consumed) != System.Buffers.OperationStatus.Done)
                return -1;
            width = consumed;
            return Rune.GetUnicodeCategory(rune) == UnicodeCategory.DecimalDigitNumber ? (int)Rune.GetNumericValue(rune) : -1;
        }
    }

    /// <summary>
    /// Folds a piece's multipliers in the reference's order: the brackets open around it that closed later, in the
    /// order they closed (each stack closes from its top, so the two stacks' closed parts merge by closing order),
    /// then the never-closed round brackets from the bottom of the stack, then the never-closed square ones.
    /// </summary>
    private sealed class WeightFolder(List<Bracket> brackets)
    {
        private readonly List<int> _round = [], _square = [];

        public double Fold(int roundTop, int squareTop)
        {
            Chain(roundTop, _round);
            Chain(squareTop, _square);
            var weight = 1.0;
            int r = 0, s = 0;
            // Closed brackets first, by closing order (a chain lists its closed brackets first, earliest-closed first).
            while (true)
            {
                var rc = r < _round.Count && brackets[_round[r]].ClosedAt >= 0 ? brackets[_round[r]].ClosedAt : int.MaxValue;
                var sc = s < _square.Count && brackets[_square[s]].ClosedAt >= 0 ? brackets[_square[s]].ClosedAt : int.MaxValue;
                if (rc == int.MaxValue && sc == int.MaxValue) break;
                if (rc < sc) weight *= brackets[_round[r++]].Multiplier;
                else weight *= brackets[_square[s++]].Multiplier;
            }
            for (var k = _round.Count - 1; k >= r; k--) weight *= RoundMultiplier;
            for (var k = _square.Count - 1; k >= s; k--) weight *= SquareMultiplier;
            return weight;
        }

        private void Chain(int top, List<int> chain)
        {
            chain.Clear();
            for (var b = top; b != NoBracket; b = brackets[b].Below) chain.Add(b);
        }
    }
}
