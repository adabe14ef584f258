using Diffusion.Sdk.Tokenizers;

namespace Diffusion.Sdk.Tests.Prompts;

/// <summary>
/// The A1111 prompt syntax against the reference's parse (every case of TestData/prompts, weights as exact doubles),
/// lpw's own docstring examples, a direct implementation of the reference's range-multiplying rule on random
/// prompts, and the edges: escapes, unbalanced brackets, numbers, Unicode digits, the bracket bound and linear time.
/// </summary>
[TestFixture]
public sealed class PromptAttentionParserTests
{
    [TestCaseSource(typeof(PromptCase), nameof(PromptCase.Cases))]
    public void TheReferenceParseIsReproducedExactly(int index)
    {
        var c = PromptCase.All[index];
        Assert.That(PromptAttentionParser.Parse(c.Prompt), Is.EqualTo(c.Parsed("prompt")), "prompt");
        Assert.That(PromptAttentionParser.Parse(c.UnconditionalText ?? ""), Is.EqualTo(c.Parsed("negative")), "negative prompt");
    }

    // lpw_stable_diffusion.parse_prompt_attention's docstring.
    [TestCase("normal text", new[] { "normal text" }, new[] { 1.0 })]
    [TestCase("an (important) word", new[] { "an ", "important", " word" }, new[] { 1.0, 1.1, 1.0 })]
    [TestCase("(unbalanced", new[] { "unbalanced" }, new[] { 1.1 })]
    [TestCase(@"\(literal\]", new[] { "(literal]" }, new[] { 1.0 })]
    [TestCase("(unnecessary)(parens)", new[] { "unnecessaryparens" }, new[] { 1.1 })]
    [TestCase("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
        new[] { "a ", "house", " ", "on", " a ", "hill", ", sun, ", "sky", "." },
        new[] { 1.0, 1.5730000000000004, 1.1, 1.0, 1.1, 0.55, 1.1, 1.4641000000000006, 1.1 })]
    public void TheReferenceDocstringExamplesHold(string prompt, string[] texts, double[] weights) =>
        Assert.That(PromptAttentionParser.Parse(prompt), Is.EqualTo(texts.Zip(weights, (t, w) => new WeightedText(t, w)).ToArray()));

    [TestCase("", "", 1.0)]
    [TestCase("()", "", 1.0)]
    [TestCase("a)", "a)", 1.0)]
    [TestCase("a]", "a]", 1.0)]
    [TestCase("x:1.5)", "x:1.5)", 1.0)]
    [TestCase("(x:1.5)", "x", 1.5)]
    [TestCase("(x:+.5)", "x", 0.5)]
    [TestCase("(x:5.)", "x", 5.0)]
    [TestCase("(x:-2)", "x", -2.0)]
    [TestCase("(x:0)", "x", 0.0)]
    [TestCase("((x))", "x", 1.2100000000000002)]
    [TestCase("[x]", "x", 0.9090909090909091)]
    [TestCase("[[x]]", "x", 0.9090909090909091 * 0.9090909090909091)]
    [TestCase("(x:1.5:2)", "x:1.5", 2.0)]
    [TestCase("(a:b)", "a:b", 1.1)]
    [TestCase(@"\\", @"\", 1.0)]
    [TestCase(@"a\b", "ab", 1.0)]
    [TestCase("(x:\u0661.\u0665)", "x", 1.5)]            // Arabic-Indic digits: Python's \d and float() read them
    [TestCase("(x:\U0001D7CF.5)", "x", 1.5)]             // MATHEMATICAL BOLD DIGIT ONE, outside the BMP
    [TestCase("(x:\u00B2)", "x:\u00B2", 1.1)]            // superscript two is not a decimal digit: text
    public void OnePieceResults(string prompt, string text, double weight) =>
        Assert.That(PromptAttentionParser.Parse(prompt), Is.EqualTo(new[] { new WeightedText(text, weight) }));

    [Test]
    public void RoundAndSquareStacksCloseIndependently()
    {
        // '(' and '[' are separate stacks: "([a)b]" weights a by 1.1 then 1/1.1, b by 1/1.1 only.
        Assert.That(PromptAttentionParser.Parse("([a)b]"), Is.EqualTo(new[]
        {
            new WeightedText("a", 1.1 * (1 / 1.1)), new WeightedText("b", 1 / 1.1),
        }));
    }

    [Test]
    public void UnclosedBracketsMultiplyRoundFirstFromTheOutermost()
    {
        // (x:2) inside two unclosed '(' and one unclosed '[': 2, then 1.1, 1.1, then 1/1.1, in that order.
        var expected = 2.0 * 1.1 * 1.1 * (1 / 1.1);
        Assert.That(PromptAttentionParser.Parse("([((x:2)"), Is.EqualTo(new[] { new WeightedText("x", expected) }));
    }

    [Test]
    public void AWeightThatIsNotANumberIsATypedError()
    {
        var e = Assert.Throws<PromptSyntaxException>(() => PromptAttentionParser.Parse("a (cat:1.2.3) b"))!;
        Assert.That(e.Position, Is.EqualTo(7));
        Assert.That(e.Message, Does.Contain("1.2.3").And.Contain("not a number"));
        Assert.Throws<PromptSyntaxException>(() => PromptAttentionParser.Parse("(x:.)"));
        Assert.Throws<PromptSyntaxException>(() => PromptAttentionParser.Parse("(x:-..)"));
    }

    [Test]
    public void TooManyOpenBracketsIsATypedError()
    {
        Assert.That(PromptAttentionParser.Parse(new string('(', PromptAttentionParser.MaxOpenBrackets) + "x")[0].Weight,
            Is.EqualTo(Enumerable.Repeat(1.1, PromptAttentionParser.MaxOpenBrackets).Aggregate(1.0, (w, m) => w * m)));
        var e = Assert.Throws<PromptSyntaxException>(() => PromptAttentionParser.Parse(new string('[', PromptAttentionParser.MaxOpenBrackets + 1) + "x"))!;
        Assert.That(e.Position, Is.EqualTo(PromptAttentionParser.MaxOpenBrackets));
    }

    [Test]
    public void MatchesTheRangeMultiplyingRuleOnRandomPrompts()
    {
        // Short random prompts over the syntax's characters, against a direct implementation of the README's rule.
        const string alphabet = "()[]()[]::\\ab .1.5-+";
        var random = new Random(20261207);
        for (var n = 0; n < 20000; n++)
        {
            var chars = new char[random.Next(0, 24)];
            for (var i = 0; i < chars.Length; i++) chars[i] = alphabet[random.Next(alphabet.Length)];
            var prompt = new string(chars);
            var expected = RangeMultiplyingParser.Parse(prompt);
            if (expected is null)
                Assert.Throws<PromptSyntaxException>(() => PromptAttentionParser.Parse(prompt), prompt);
            else
                Assert.That(PromptAttentionParser.Parse(prompt), Is.EqualTo(expected), prompt);
        }
    }

    [Test, CancelAfter(30_000)]
    public void LongPromptsParseInLinearTime()
    {
        // 200 brackets deep, then 60,000 pieces that each close and reopen one: the reference's range multiplication
        // would do about 60,000² multiplications; this is 60,000 × 200 at most.
        var prompt = new string('(', 200) + string.Concat(Enumerable.Repeat("a)(", 60_000));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var parsed = PromptAttentionParser.Parse(prompt);
        clock.Stop();
        Assert.That(parsed, Has.Count.EqualTo(1));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "linear time");
        TestContext.Out.WriteLine($"{prompt.Length} characters parsed in {clock.Elapsed.TotalMilliseconds:F0} ms");
    }
}
