using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tokenizers;

namespace Diffusion.Sdk.Tests.Tokenizers;

/// <summary>Framing, truncation and the chosen behaviour on inputs where CLIP implementations disagree.</summary>
public class ClipTokenizerTests
{
    private static ClipTokenizer Sd1 => TokenizerFolders.Sd1;

    [Test]
    public void EmptyPromptIsBeginEndAndPadding()
    {
        var ids = Sd1.Encode("");
        Assert.That(ids, Has.Length.EqualTo(77));
        Assert.That(ids[0], Is.EqualTo(49406));
        Assert.That(ids[1..], Is.All.EqualTo(49407));
        Assert.That(TokenizerFolders.Sd2.Encode("")[2..], Is.All.EqualTo(0));
        Assert.That(Sd1.Encode(null!), Is.EqualTo(ids), "null reads as the empty prompt");
    }

    [Test]
    public void LongPromptKeepsTheFirst75TokensAndEndsWithEos()
    {
        var prompt = string.Join(' ', Enumerable.Range(0, 100).Select(i => $"word{i % 10}"));
        var tokens = Sd1.Tokenize(prompt);
        Assert.That(tokens, Has.Count.GreaterThan(75), "not truncated");
        var ids = Sd1.Encode(prompt);
        Assert.That(ids[1..76], Is.EqualTo(tokens.Take(75)));
        Assert.That(ids[76], Is.EqualTo(Sd1.EosTokenId));
    }

    [Test]
    public void SpanOverloadWritesOneRowInPlace()
    {
        var batch = new int[2 * 77 + 3];
        Array.Fill(batch, -1);
        Sd1.Encode("a cat", batch.AsSpan(77));
        Assert.That(batch[..77], Is.All.EqualTo(-1));
        Assert.That(batch[77..154], Is.EqualTo(Sd1.Encode("a cat")));
        Assert.That(batch[154..], Is.All.EqualTo(-1), "writes exactly ModelMaxLength ids");
        Assert.Throws<ArgumentException>(() => Sd1.Encode("a cat", new int[76]));
    }

    [Test]
    public void SpecialTokensInTheTextStayWholeOnlyWhereThePatternStartsThem()
    {
        Assert.That(Sd1.Tokenize("<|endoftext|>"), Is.EqualTo(new[] { 49407 }));
        Assert.That(Sd1.Tokenize("<|ENDOFTEXT|> <|startoftext|>"), Is.EqualTo(new[] { 49407, 49406 }), "lower-cased first");
        Assert.That(Sd1.Tokenize("a!<|endoftext|>"), Does.Not.Contain(49407), "a punctuation run swallows the '<', as in the reference");
    }

    // The four inputs of cases.json's divergent_informational, with the behaviour chosen (openai's, without ftfy).

    [Test]
    public void HtmlEntitiesAreDecodedTwice()
    {
        Assert.That(Sd1.Tokenize("Tom &amp; Jerry"), Is.EqualTo(Sd1.Tokenize("Tom & Jerry")));
        Assert.That(Sd1.Tokenize("&amp;amp;"), Is.EqualTo(Sd1.Tokenize("&")), "twice, as the reference");
        Assert.That(ClipTextCleaner.Clean("&amp;amp;amp;"), Is.EqualTo("&amp;"), "but not three times");
        Assert.That(ClipTextCleaner.Clean("caf&eacute; &#39;x&#x27; &lt &NotEqualTilde; &#128;"), Is.EqualTo("café 'x' < ≂̸ €"), "HTML5 names, legacy forms, C1 repairs");
    }

    [Test]
    public void CjkIsNotSplitIntoCharacters() =>
        Assert.That(Sd1.Tokenize("東京タワー"), Is.EqualTo(new[] { 48338, 21078, 105, 34941, 2429, 107, 30391 }));

    [Test]
    public void CurlyApostropheAndLigatureAreNotFolded()
    {
        Assert.That(Sd1.Tokenize("don’t"), Is.Not.EqualTo(Sd1.Tokenize("don't")));
        Assert.That(Sd1.Tokenize("ﬁne"), Is.Not.EqualTo(Sd1.Tokenize("fine")));
    }

    [Test]
    public void NoUnicodeNormalization() =>
        Assert.That(Sd1.Tokenize("cafe\u0301"), Is.Not.EqualTo(Sd1.Tokenize("caf\u00E9")), "decomposed text is tokenized as written");

    [Test]
    public void LowerCasingFollowsPython()
    {
        Assert.That(ClipTextCleaner.Clean("ΟΔΟΣ ΣΑΣ"), Is.EqualTo("οδος σας"), "final sigma");
        Assert.That(ClipTextCleaner.Clean("İ"), Is.EqualTo("i\u0307"));
        Assert.That(ClipTextCleaner.Clean("ⅫΣ AΣⅫ"), Is.EqualTo("ⅻς aσⅻ"), "Roman numerals are cased");
    }

    [Test]
    public void WhitespaceIsCollapsedAndInformationSeparatorsStrippedOnlyAtTheEnds()
    {
        Assert.That(ClipTextCleaner.Clean(" \u001c a\t\u00a0\u3000b\r\n"), Is.EqualTo("a b"));
        Assert.That(ClipTextCleaner.Clean("a\u001cb"), Is.EqualTo("a\u001cb"));
    }

    [Test]
    public void AstralLettersAndDigitsAreClassifiedByCodePoint()
    {
        // 𝐀 is a letter, so "𝐀bc" is one word; 𝟏 is a digit, so each is its own word.
        Assert.That(Sd1.TokenizeToStrings("𝐀bc").Last(), Does.EndWith("</w>"));
        Assert.That(Sd1.TokenizeToStrings("𝐀bc").Count(t => t.EndsWith("</w>", StringComparison.Ordinal)), Is.EqualTo(1));
        Assert.That(Sd1.TokenizeToStrings("𝟏𝟏").Count(t => t.EndsWith("</w>", StringComparison.Ordinal)), Is.EqualTo(2));
    }

    [Test]
    public void ConcurrentUseGivesTheSameIds()
    {
        var prompts = Enumerable.Range(0, 400).Select(i => $"prompt {i} of a cat number {i * 7919} in style {i % 13}").ToArray();
        var fresh = ClipTokenizer.FromFolder(TokenizerFolders.Clip);
        var parallel = new int[prompts.Length][];
        Parallel.For(0, prompts.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => parallel[i] = fresh.Encode(prompts[i]));
        for (var i = 0; i < prompts.Length; i++)
            Assert.That(parallel[i], Is.EqualTo(Sd1.Encode(prompts[i])), prompts[i]);
    }
}
