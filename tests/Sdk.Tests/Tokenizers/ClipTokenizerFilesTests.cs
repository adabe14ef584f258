using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Text.Json.Nodes;
using Diffusion.Sdk.Tokenizers;

namespace Diffusion.Sdk.Tests.Tokenizers;

/// <summary>Reading a tokenizer folder: where the pad token comes from, and a typed error naming the file for bad input.</summary>
public class ClipTokenizerFilesTests
{
    private ScratchFolder _folder = null!;

    [SetUp]
    public void SetUp() => _folder = new ScratchFolder();

    [TearDown]
    public void TearDown() => _folder.Dispose();

    private TokenizerException Fails(string file)
    {
        var e = Assert.Throws<TokenizerException>(() => ClipTokenizer.FromFolder(_folder.Path))!;
        Assert.That(e.FilePath, Is.EqualTo(_folder.File(file)));
        Assert.That(e.Message, Does.Contain(_folder.File(file)));
        Assert.That(e, Is.InstanceOf<DiffusionException>());
        return e;
    }

    // Found by the tokenizer fuzzer (tests/Fuzz): two tokens with one id escaped as an untyped ArgumentException.
    [Test]
    public void TwoTokensWithOneIdAreATypedErrorNamingBoth()
    {
        _folder.EditJson("vocab.json", v => v["<|startoftext|>"] = v["a</w>"]!.GetValue<int>());
        var e = Fails("vocab.json");
        Assert.That(e.Message, Does.Contain("<|startoftext|>").And.Contain("a</w>"));
    }

    [Test]
    public void PadTokenAsStringOrObject()
    {
        _folder.EditJson("tokenizer_config.json", c => c["pad_token"] = "!");
        _folder.EditJson("special_tokens_map.json", m => m["pad_token"] = new JsonObject { ["content"] = "!", ["lstrip"] = false, ["normalized"] = false });
        Assert.That(ClipTokenizer.FromFolder(_folder.Path).PadTokenId, Is.EqualTo(0));

        _folder.EditJson("special_tokens_map.json", m => m["pad_token"] = "!");
        _folder.EditJson("tokenizer_config.json", c => c["pad_token"] = new JsonObject { ["__type"] = "AddedToken", ["content"] = "!" });
        Assert.That(ClipTokenizer.FromFolder(_folder.Path).PadTokenId, Is.EqualTo(0));
    }

    [Test]
    public void SpecialTokensMapOverridesTheConfig()
    {
        _folder.EditJson("tokenizer_config.json", c => c["pad_token"] = "!");
        Assert.That(ClipTokenizer.FromFolder(_folder.Path).PadTokenId, Is.EqualTo(49407), "special_tokens_map.json still says <|endoftext|>");
        File.Delete(_folder.File("special_tokens_map.json"));
        Assert.That(ClipTokenizer.FromFolder(_folder.Path).PadTokenId, Is.EqualTo(0), "without the map the config decides");
    }

    [Test]
    public void MissingTokensFallBackToClipDefaults()
    {
        File.Delete(_folder.File("special_tokens_map.json"));
        _folder.EditJson("tokenizer_config.json", c => { c.Remove("pad_token"); c.Remove("bos_token"); c.Remove("eos_token"); });
        var tokenizer = ClipTokenizer.FromFolder(_folder.Path);
        Assert.That((tokenizer.BosTokenId, tokenizer.EosTokenId, tokenizer.PadTokenId), Is.EqualTo((49406, 49407, 49407)));
    }

    [TestCase("vocab.json")]
    [TestCase("merges.txt")]
    [TestCase("tokenizer_config.json")]
    public void MissingFile(string file)
    {
        File.Delete(_folder.File(file));
        Assert.That(Fails(file).Problem, Does.Contain("missing"));
    }

    [Test]
    public void MissingFolder()
    {
        var missing = Path.Combine(_folder.Path, "nope");
        var e = Assert.Throws<TokenizerException>(() => ClipTokenizer.FromFolder(missing))!;
        Assert.That(e.FilePath, Is.EqualTo(missing));
    }

    [Test]
    public void VocabularyNotJson()
    {
        File.WriteAllText(_folder.File("vocab.json"), "{\"a\": 1,");
        Assert.That(Fails("vocab.json").Problem, Does.Contain("JSON"));
    }

    [Test]
    public void VocabularyIdNotAnInteger()
    {
        _folder.EditJson("vocab.json", v => v["hello</w>"] = "x");
        Assert.That(Fails("vocab.json").Problem, Does.Contain("hello</w>"));
    }

    [Test]
    public void VocabularyWithoutByteTokens()
    {
        _folder.EditJson("vocab.json", v => v.Remove("a</w>"));
        Assert.That(Fails("vocab.json").Problem, Does.Contain("byte token"));
    }

    [Test]
    public void MalformedMergeLine()
    {
        var lines = File.ReadAllLines(_folder.File("merges.txt"));
        lines[5] = "i n g";
        File.WriteAllLines(_folder.File("merges.txt"), lines);
        Assert.That(Fails("merges.txt").Problem, Does.Contain("line 6"));
    }

    [Test]
    public void MergesFromAnotherVocabulary()
    {
        File.AppendAllText(_folder.File("merges.txt"), "");
        var lines = File.ReadAllLines(_folder.File("merges.txt"));
        lines[1] = "q z";
        File.WriteAllLines(_folder.File("merges.txt"), lines);
        Assert.That(Fails("merges.txt").Problem, Does.Contain("not in vocab.json"));
    }

    [Test]
    public void EmptyMerges()
    {
        File.WriteAllText(_folder.File("merges.txt"), "#version: 0.2\n");
        Assert.That(Fails("merges.txt").Problem, Does.Contain("no merges"));
    }

    [TestCase(null)]
    [TestCase(1e30)]
    [TestCase(77.5)]
    public void BadModelMaxLength(double? value)
    {
        _folder.EditJson("tokenizer_config.json", c =>
        {
            if (value is null) c.Remove("model_max_length");
            else c["model_max_length"] = value;
        });
        Assert.That(Fails("tokenizer_config.json").Problem, Does.Contain("model_max_length"));
    }

    [Test]
    public void PadTokenNotInVocabulary()
    {
        _folder.EditJson("special_tokens_map.json", m => m["pad_token"] = "<pad>");
        Assert.That(Fails("special_tokens_map.json").Problem, Does.Contain("<pad>"));
    }

    [Test]
    public void PadTokenOfWrongType()
    {
        _folder.EditJson("tokenizer_config.json", c => c["pad_token"] = 3);
        File.Delete(_folder.File("special_tokens_map.json"));
        Assert.That(Fails("tokenizer_config.json").Problem, Does.Contain("pad_token"));
    }

    [Test]
    public void ConfigNotAnObject()
    {
        File.WriteAllText(_folder.File("tokenizer_config.json"), "[77]");
        Assert.That(Fails("tokenizer_config.json").Problem, Does.Contain("object"));
    }

    [Test]
    public void ShorterContextFramesToItsLength()
    {
        _folder.EditJson("tokenizer_config.json", c => c["model_max_length"] = 8);
        var tokenizer = ClipTokenizer.FromFolder(_folder.Path);
        Assert.That(tokenizer.Encode("a photograph of an astronaut riding a horse"), Is.EqualTo(new[] { 49406, 320, 8853, 539, 550, 18376, 6765, 49407 }));
    }
}
