using Diffusion.Sdk.Tests.Tokenizers;
using Diffusion.Sdk.Tokenizers;

namespace Diffusion.Sdk.Tests.Prompts;

/// <summary>
/// Tokens and windows against the reference, case by case and exactly: each piece's ids, the truncated token list and
/// its weights, the window count shared by prompt and negative prompt, the padded sequence, every window's ids and the
/// per-position weights as float32.
/// </summary>
[TestFixture]
public sealed class PromptWindowsTests
{
    [TestCaseSource(typeof(PromptCase), nameof(PromptCase.Cases))]
    public void TheTokenWindowsMatchExactly(int index)
    {
        var c = PromptCase.All[index];
        var tokenizer = c.Tokenizer;
        var perWindow = tokenizer.ModelMaxLength - 2;
        var texts = new List<(string Name, string Text)> { ("prompt", c.Prompt) };
        if (c.UnconditionalText is { } negative) texts.Add(("negative", negative));

        var tokens = texts.Select(t => WeightedPromptTokens.Parse(tokenizer, t.Text, perWindow * c.MaxWindows)).ToArray();
        var count = PromptWindows.CountFor(tokens.Max(t => t.Ids.Count), c.MaxWindows, perWindow);
        Assert.That(count, Is.EqualTo(c.WindowCount), "window count");

        for (var i = 0; i < texts.Count; i++)
        {
            var name = texts[i].Name;
            foreach (var fragment in c.Root.GetProperty(name + "_fragments").EnumerateArray())
                Assert.That(tokenizer.Tokenize(fragment.GetProperty("text").GetString()!), Is.EqualTo(TokenizerFolders.Ints(fragment.GetProperty("ids"))), $"{name} piece ids");
            Assert.That(tokens[i].CountBeforeTruncation, Is.EqualTo(c.Root.GetProperty(name + "_tokens_before_truncation").GetInt32()), $"{name} tokens before truncation");
            Assert.That(tokens[i].Ids, Is.EqualTo(c.Ints(name + "_tokens")), $"{name} tokens");
            Assert.That(tokens[i].Weights, Is.EqualTo(c.Doubles(name + "_token_weights")), $"{name} token weights");

            var windows = PromptWindows.Frame(tokenizer, tokens[i], count);
            Assert.That(windows.PaddedIds, Is.EqualTo(c.Ints(name + "_padded_ids")), $"{name} padded ids");
            var expectedWindows = c.Windows(name);
            Assert.That(windows.Count, Is.EqualTo(expectedWindows.Length));
            for (var w = 0; w < windows.Count; w++)
                Assert.That(windows.Window(w).ToArray(), Is.EqualTo(expectedWindows[w]), $"{name} window {w}");
            Assert.That(windows.PositionWeights, Is.EqualTo(c.Doubles(name + "_position_weights").Select(d => (float)d)), $"{name} position weights (float32)");
        }
    }

    [Test]
    public void WindowCountsFollowTheLongerTextUpToTheCap()
    {
        Assert.Multiple(() =>
        {
            Assert.That(PromptWindows.CountFor(0, 3, 75), Is.EqualTo(1));
            Assert.That(PromptWindows.CountFor(75, 3, 75), Is.EqualTo(1));
            Assert.That(PromptWindows.CountFor(76, 3, 75), Is.EqualTo(2));
            Assert.That(PromptWindows.CountFor(150, 3, 75), Is.EqualTo(2));
            Assert.That(PromptWindows.CountFor(151, 3, 75), Is.EqualTo(3));
            Assert.That(PromptWindows.CountFor(1000, 3, 75), Is.EqualTo(3));
            Assert.That(PromptWindows.CountFor(1000, 1, 75), Is.EqualTo(1));
        });
        Assert.Throws<ArgumentOutOfRangeException>(() => PromptWindows.CountFor(10, 0, 75));
        var tokens = WeightedPromptTokens.Parse(TokenizerFolders.Sd1, string.Join(' ', Enumerable.Repeat("cat", 80)), 1000);
        Assert.Throws<ArgumentException>(() => PromptWindows.Frame(TokenizerFolders.Sd1, tokens, 1), "80 ids in one window of 75");
    }

    [Test]
    public void APlainPromptGetsTheStandardIdsWhenTheTokenizerPadsWithItsEndToken()
    {
        const string prompt = "a photograph of an astronaut riding a horse";
        var sd1 = TokenizerFolders.Sd1;
        var windows = PromptWindows.Frame(sd1, WeightedPromptTokens.Parse(sd1, prompt, 225), 1);
        Assert.That(windows.Window(0).ToArray(), Is.EqualTo(sd1.Encode(prompt)));
    }

    [Test]
    public void WithExclamationPaddingTheEndTokenComesAfterThePadding()
    {
        // SD 2.x pads with "!" (id 0). The reference long-prompt pipeline writes [BOS] text [PAD]… [EOS], the standard
        // pipeline [BOS] text [EOS] [PAD]…: the ids, hence the embeddings, differ. The SDK follows the reference.
        const string prompt = "a red apple";
        var sd2 = TokenizerFolders.Sd2;
        var standard = sd2.Encode(prompt);
        var windows = PromptWindows.Frame(sd2, WeightedPromptTokens.Parse(sd2, prompt, 225), 1);
        var ids = windows.Window(0).ToArray();
        var n = sd2.Tokenize(prompt).Count;
        Assert.Multiple(() =>
        {
            Assert.That(ids[..(n + 1)], Is.EqualTo(standard[..(n + 1)]), "begin token and text");
            Assert.That(ids[n + 1], Is.EqualTo(sd2.PadTokenId).And.EqualTo(0), "padding right after the text");
            Assert.That(ids[^1], Is.EqualTo(sd2.EosTokenId), "the end token last");
            Assert.That(standard[n + 1], Is.EqualTo(sd2.EosTokenId), "the standard pipeline's end token after the text");
            Assert.That(ids, Is.Not.EqualTo(standard));
        });
    }
}
