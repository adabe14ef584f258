using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Text.Json;
using Diffusion.Sdk.Tokenizers;

namespace Diffusion.Sdk.Tests.Tokenizers;

/// <summary>
/// The CLIP tokenizer against openai's reference ids (<c>TestData/tokenizer/clip/cases.json</c>, from
/// shared/reference/tokenizer/clip), the generated probes of tools/tokenizer-probes, and the token ids of the
/// sd-tiny-legacy fixture's expected pipeline runs. Cases under <c>$DIFFUSION_REFERENCE_DIR/tokenizer/clip</c> run too.
/// </summary>
public class ClipTokenizerReferenceTests
{
    private sealed record Case(string Set, string File, JsonElement Json)
    {
        public override string ToString() => Json.GetProperty("prompt").GetString()!;
    }

    private static IEnumerable<string> CaseFiles()
    {
        yield return TestData.Path("tokenizer", "clip", "cases.json");
        if (TestData.ExternalReferenceDirectory is { } dir && File.Exists(Path.Combine(dir, "tokenizer", "clip", "cases.json")))
            yield return Path.Combine(dir, "tokenizer", "clip", "cases.json");
    }

    private static IEnumerable<TestCaseData> Cases(string set)
    {
        foreach (var file in CaseFiles())
        {
            using var document = JsonDocument.Parse(File.ReadAllText(file));
            var index = 0;
            foreach (var json in document.RootElement.GetProperty(set).EnumerateArray())
            {
                var origin = file.StartsWith(TestData.Root, StringComparison.Ordinal) ? "" : "env:";
                yield return new TestCaseData(new Case(set, file, json.Clone())).SetName($"{set} {origin}#{index++:D2}");
            }
        }
    }

    private static IEnumerable<TestCaseData> ConformanceCases() => Cases("cases");

    private static IEnumerable<TestCaseData> DivergentCases() => Cases("divergent_informational");

    /// <summary>The tokenizer of a case file's own folder when it has one, else the bundled one.</summary>
    private static (ClipTokenizer Sd1, ClipTokenizer Sd2) TokenizersFor(Case c)
    {
        var folder = Path.GetDirectoryName(c.File)!;
        if (folder == TokenizerFolders.Clip || !File.Exists(Path.Combine(folder, "vocab.json")))
            return (TokenizerFolders.Sd1, TokenizerFolders.Sd2);
        return (ClipTokenizer.FromFolder(folder), TokenizerFolders.Sd2);
    }

    [TestCaseSource(nameof(ConformanceCases))]
    public void MatchesReference(object testCase) => AssertCase((Case)testCase);

    /// <summary>
    /// The four inputs on which implementations disagree: this tokenizer gives openai's ids (the cases' <c>ids</c>),
    /// as docs/text-to-image.md explains.
    /// </summary>
    [TestCaseSource(nameof(DivergentCases))]
    public void DivergentInputsFollowOpenAi(object testCase) => AssertCase((Case)testCase);

    private static void AssertCase(Case c)
    {
        var json = c.Json;
        var prompt = json.GetProperty("prompt").GetString()!;
        var (sd1, sd2) = TokenizersFor(c);
        Assert.Multiple(() =>
        {
            Assert.That(ClipTextCleaner.Clean(prompt), Is.EqualTo(json.GetProperty("normalized").GetString()), "normalized");
            Assert.That(sd1.TokenizeToStrings(prompt), Is.EqualTo(TokenizerFolders.Strings(json.GetProperty("bpe_tokens"))), "bpe_tokens");
            Assert.That(sd1.Tokenize(prompt), Is.EqualTo(TokenizerFolders.Ints(json.GetProperty("ids"))), "ids");
            Assert.That(sd1.Tokenize(prompt), Has.Count.EqualTo(json.GetProperty("n_tokens").GetInt32()), "n_tokens");
            Assert.That(sd1.Encode(prompt), Is.EqualTo(TokenizerFolders.Ints(json.GetProperty("input_ids_pad_eos"))), "input_ids_pad_eos");
            Assert.That(sd2.Encode(prompt), Is.EqualTo(TokenizerFolders.Ints(json.GetProperty("input_ids_pad_bang"))), "input_ids_pad_bang");
            Assert.That(Array.IndexOf(sd1.Encode(prompt), sd1.EosTokenId), Is.EqualTo(json.GetProperty("eos_index").GetInt32()), "eos_index");
        });
    }

    [Test]
    public void ReferenceConstants()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(TestData.Path("tokenizer", "clip", "cases.json")));
        var root = document.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(TokenizerFolders.Sd1.ModelMaxLength, Is.EqualTo(root.GetProperty("model_max_length").GetInt32()));
            Assert.That(TokenizerFolders.Sd1.BosTokenId, Is.EqualTo(root.GetProperty("bos_token_id").GetInt32()));
            Assert.That(TokenizerFolders.Sd1.EosTokenId, Is.EqualTo(root.GetProperty("eos_token_id").GetInt32()));
            Assert.That(TokenizerFolders.Sd1.PadTokenId, Is.EqualTo(root.GetProperty("pad_token_id_sd1").GetInt32()));
            Assert.That(TokenizerFolders.Sd2.PadTokenId, Is.EqualTo(root.GetProperty("pad_token_id_sd2").GetInt32()));
            Assert.That(root.GetProperty("cases").GetArrayLength(), Is.EqualTo(30), "bundled conformance cases");
        });
    }

    private static IEnumerable<TestCaseData> ProbeBatches()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(TestData.Path("tokenizer", "clip", "probes.json")));
        var cases = document.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.Clone()).ToArray();
        for (var start = 0; start < cases.Length; start += 100)
            yield return new TestCaseData((object)cases[start..Math.Min(cases.Length, start + 100)]).SetName($"Probes {start:D4}+");
    }

    /// <summary>Generated prompts (tools/tokenizer-probes): odd whitespace, astral letters, sigma, HTML references, specials.</summary>
    [TestCaseSource(nameof(ProbeBatches))]
    public void MatchesGeneratedProbes(JsonElement[] batch)
    {
        Assert.Multiple(() =>
        {
            foreach (var probe in batch)
            {
                var prompt = probe.GetProperty("prompt").GetString()!;
                var label = JsonSerializer.Serialize(prompt);
                Assert.That(ClipTextCleaner.Clean(prompt), Is.EqualTo(probe.GetProperty("normalized").GetString()), $"normalized {label}");
                Assert.That(TokenizerFolders.Sd1.TokenizeToStrings(prompt), Is.EqualTo(TokenizerFolders.Strings(probe.GetProperty("bpe_tokens"))), $"bpe_tokens {label}");
                Assert.That(TokenizerFolders.Sd1.Tokenize(prompt), Is.EqualTo(TokenizerFolders.Ints(probe.GetProperty("ids"))), $"ids {label}");
            }
        });
    }

    private static IEnumerable<TestCaseData> PipelineTokenCases()
    {
        using (var document = JsonDocument.Parse(File.ReadAllText(TestData.Path("tokenizer", "sd-tiny-legacy-tokens.json"))))
        {
            // The sd helper's copy of the fixture, when present, supplies the tokenizer folder; the files are identical.
            var fixture = TestData.Path("sd-tiny-legacy", "model", "tokenizer");
            var folder = Directory.Exists(fixture) ? fixture : TokenizerFolders.Clip;
            foreach (var c in document.RootElement.GetProperty("cases").EnumerateArray())
            {
                var source = c.GetProperty("source").GetString()!;
                yield return new TestCaseData(folder, c.GetProperty("prompt").GetString(), NullableString(c, "negative_prompt"),
                    TokenizerFolders.Ints(c.GetProperty("prompt_input_ids")), NullableInts(c, "negative_input_ids")).SetName($"Pipeline tokens {Path.GetFileName(source)}");
            }
        }
        if (TestData.ExternalReferenceDirectory is { } dir && Directory.Exists(Path.Combine(dir, "pipelines")))
        {
            foreach (var fixture in Directory.EnumerateDirectories(Path.Combine(dir, "pipelines")).Order(StringComparer.Ordinal))
            {
                var tokenizer = Path.Combine(fixture, "model", "tokenizer");
                var expected = Path.Combine(fixture, "expected");
                if (!Directory.Exists(tokenizer) || !Directory.Exists(expected)) continue;
                foreach (var file in Directory.EnumerateFiles(expected, "*.json").Order(StringComparer.Ordinal))
                {
                    using var document = JsonDocument.Parse(File.ReadAllText(file));
                    var root = document.RootElement;
                    if (!root.TryGetProperty("tokens", out var tokens) || !root.TryGetProperty("inputs", out var inputs)) continue;
                    if (inputs.GetProperty("prompt").ValueKind != JsonValueKind.String) continue;
                    yield return new TestCaseData(tokenizer, inputs.GetProperty("prompt").GetString(), NullableString(inputs, "negative_prompt"),
                        TokenizerFolders.Ints(tokens.GetProperty("prompt_input_ids")), NullableInts(tokens, "negative_input_ids"))
                        .SetName($"Pipeline tokens env:{Path.GetFileName(fixture)}/{Path.GetFileName(file)}");
                }
            }
        }
    }

    private static string? NullableString(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static int[]? NullableInts(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array ? TokenizerFolders.Ints(v) : null;

    /// <summary>The pipeline's prompt and negative-prompt ids; a missing negative prompt is the empty prompt.</summary>
    [TestCaseSource(nameof(PipelineTokenCases))]
    public void MatchesPipelineTokens(string folder, string prompt, string? negativePrompt, int[] promptIds, int[]? negativeIds)
    {
        var tokenizer = folder == TokenizerFolders.Clip ? TokenizerFolders.Sd1 : ClipTokenizer.FromFolder(folder);
        Assert.That(tokenizer.Encode(prompt), Is.EqualTo(promptIds), "prompt_input_ids");
        if (negativeIds is not null)
            Assert.That(tokenizer.Encode(negativePrompt ?? ""), Is.EqualTo(negativeIds), "negative_input_ids");
    }
}
