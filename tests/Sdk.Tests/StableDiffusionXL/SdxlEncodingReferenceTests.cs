using System.Text.Json;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.StableDiffusionXL;

/// <summary>
/// SDXL's conditioning against what diffusers computed from the same files, stage by stage: every text-encoder
/// call's token ids exactly (each tokenizer with its own pad token), the hidden state it used and the pooled
/// embedding to 1e-4; the UNet's encoder hidden states, text embeddings (1e-4) and time ids (exactly), rows in the
/// reference's order; and the random draws.
/// </summary>
[TestFixture]
public sealed class SdxlEncodingReferenceTests
{
    [TestCaseSource(typeof(SdxlFixture), nameof(SdxlFixture.Cases))]
    public void TheTokenIdsMatchExactly(string name)
    {
        foreach (var stage in SdxlFixture.Case(name).Stages)
        {
            var pairs = SdxlFixture.Xl(stage.ModelFolder).TextEncoders.Pairs;
            foreach (var call in stage.TextEncoderCalls)
            {
                var pair = pairs.Single(p => p.Name == call.GetProperty("encoder").GetString());
                var texts = call.GetProperty("texts").EnumerateArray().Select(t => t.GetString()!).ToList();
                var ids = call.GetProperty("input_ids").EnumerateArray().ToList();
                Assert.That(((ClipPromptTokenizer)pair.Tokenizer).Tokenizer.PadTokenId, Is.EqualTo(call.GetProperty("pad_token_id").GetInt32()), $"{pair.Name}'s pad token");
                for (var i = 0; i < texts.Count; i++)
                    Assert.That(pair.Tokenizer.Encode(texts[i]), Is.EqualTo(ids[i].EnumerateArray().Select(e => e.GetInt32())), $"{pair.Name}, '{texts[i]}'");
            }
        }
    }

    [TestCaseSource(typeof(SdxlFixture), nameof(SdxlFixture.Cases))]
    public void EveryEncoderCallsHiddenStateAndPooledEmbeddingMatch(string name)
    {
        foreach (var stage in SdxlFixture.Case(name).Stages)
        {
            var pairs = SdxlFixture.Xl(stage.ModelFolder).TextEncoders.Pairs;
            foreach (var call in stage.TextEncoderCalls)
            {
                var pair = pairs.Single(p => p.Name == call.GetProperty("encoder").GetString());
                var used = call.GetProperty("used_hidden_state").GetString()!;          // "hidden_states.2 (index -2 of 4)"
                var fromEnd = -int.Parse(used[(used.IndexOf("index ", StringComparison.Ordinal) + 6)..used.IndexOf(" of", StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
                var usedName = used[..used.IndexOf(' ', StringComparison.Ordinal)];
                Assert.That(pair.Encoder.HiddenStateOutput(fromEnd), Is.EqualTo(usedName), $"{pair.Name}: the output for hidden state -{fromEnd}");
                var ids = call.GetProperty("input_ids").EnumerateArray().ToList();
                for (var i = 0; i < ids.Count; i++)
                {
                    var (hidden, pooled) = pair.Encoder.EncodeHiddenState(ids[i].EnumerateArray().Select(e => e.GetInt32()).ToArray(), fromEnd);
                    var expected = SdReferenceCase.Values(call.GetProperty("hidden_states").GetProperty(usedName));
                    var item = expected.Length / ids.Count;
                    Tolerance.AssertClose(hidden, Doubles(expected.AsSpan(i * item, item).ToArray()), $"{pair.Name} {usedName}, row {i}", abs: 1e-4, rel: 0);
                    if (call.TryGetProperty("text_embeds", out var te))
                    {
                        var all = SdReferenceCase.Values(te);
                        var width = all.Length / ids.Count;
                        Assert.That(pooled, Is.Not.Null, $"{pair.Name} has text_embeds");
                        Tolerance.AssertClose(pooled!, Doubles(all.AsSpan(i * width, width).ToArray()), $"{pair.Name} text_embeds, row {i}", abs: 1e-4, rel: 0);
                    }
                }
            }
        }
    }

    [TestCaseSource(typeof(SdxlFixture), nameof(SdxlFixture.Cases))]
    public void TheUnetConditioningRowsMatch(string name)
    {
        foreach (var stage in SdxlFixture.Case(name).Stages)
        {
            var xl = SdxlFixture.Xl(stage.ModelFolder);
            var conditioning = SdxlTextConditioner.Build(xl, Batch(stage), stage.ImagesPerPrompt, stage.Guided, stage.MicroConditioning,
                Height(stage), Width(stage), stage.IsImageToImage, CancellationToken.None);
            var timeIds = conditioning.Find("time_ids")!;
            var textEmbeds = conditioning.Find("text_embeds")!;
            var hidden = conditioning.EncoderHiddenStates;
            var expected = stage.AddTimeIds;
            Assert.That(timeIds.Values, Is.EqualTo(expected.GetProperty("unet_time_ids").EnumerateArray().Select(e => e.GetSingle())), "time_ids, exactly");
            Assert.That(timeIds.RowShape, Is.EqualTo(new[] { xl.TimeIdsLength }));
            Tolerance.AssertClose(textEmbeds.Values, Doubles(SdReferenceCase.Values(expected.GetProperty("unet_text_embeds"))), "text_embeds", abs: 1e-4, rel: 0);
            Tolerance.AssertClose(hidden, Doubles(SdReferenceCase.Values(expected.GetProperty("unet_encoder_hidden_states"))), "encoder_hidden_states", abs: 1e-4, rel: 0);

            // encode_prompt's own four results (after the repetition per image).
            var ep = stage.EncodePrompt;
            var items = conditioning.Rows - conditioning.ConditionalRowStart;
            var perRow = conditioning.HiddenStatesRowLength;
            var pooledWidth = textEmbeds.RowLength;
            var offset = conditioning.ConditionalRowStart;
            Tolerance.AssertClose(hidden.AsSpan(offset * perRow, items * perRow), Doubles(SdReferenceCase.Values(ep.GetProperty("prompt_embeds"))), "prompt_embeds", abs: 1e-4, rel: 0);
            Tolerance.AssertClose(textEmbeds.Values.AsSpan(offset * pooledWidth, items * pooledWidth), Doubles(SdReferenceCase.Values(ep.GetProperty("pooled_prompt_embeds"))), "pooled_prompt_embeds", abs: 1e-4, rel: 0);
            Assert.That(conditioning.HasUnconditionalRows, Is.EqualTo(stage.Guided));
            if (stage.Guided)
            {
                Tolerance.AssertClose(hidden.AsSpan(0, items * perRow), Doubles(SdReferenceCase.Values(ep.GetProperty("negative_prompt_embeds"))), "negative_prompt_embeds", abs: 1e-4, rel: 0);
                Tolerance.AssertClose(textEmbeds.Values.AsSpan(0, items * pooledWidth), Doubles(SdReferenceCase.Values(ep.GetProperty("negative_pooled_prompt_embeds"))), "negative_pooled_prompt_embeds", abs: 1e-4, rel: 0);
                if (ep.GetProperty("negative_is_zeros").GetBoolean())
                    Assert.That(hidden.AsSpan(0, items * perRow).ToArray(), Is.All.EqualTo(0f), "zeroed negative embeddings");
            }
        }
    }

    [TestCaseSource(typeof(SdxlFixture), nameof(SdxlFixture.Cases))]
    public void TheRandomDrawsReplayExactly(string name)
    {
        var c = SdxlFixture.Case(name);
        var noise = new TorchGaussianNoise(c.Seed);
        foreach (var draw in c.Stages.SelectMany(s => s.RandomDraws))
        {
            var expected = SdReferenceCase.Values(draw);
            var actual = new float[SdReferenceCase.Shape(draw).Aggregate(1, (a, b) => a * b)];
            noise.NextGaussian(actual);
            Assert.That(actual, Is.EqualTo(expected), $"draw by {draw.GetProperty("by").GetString()}");
        }
    }

    internal static SdxlPromptBatch Batch(SdxlStage stage) => SdxlPromptBatch.From(SdxlRequests.For(stage), stage.Prompts);

    internal static int Height(SdxlStage stage) => (int)(stage.Number("height") ?? LatentSide(stage, 2));

    internal static int Width(SdxlStage stage) => (int)(stage.Number("width") ?? LatentSide(stage, 3));

    // Image to image takes its size from the latents (× 8), as the reference does.
    private static int LatentSide(SdxlStage stage, int axis) => SdReferenceCase.Shape(stage.Root.GetProperty("initial_latents"))[axis] * 8;

    private static double[] Doubles(float[] values) => Array.ConvertAll(values, v => (double)v);
}
