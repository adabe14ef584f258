using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;
using StbImageSharp;

namespace Diffusion.Sdk.Tests.StableDiffusion;

/// <summary>
/// The tiny Stable Diffusion export against what the reference pipelines computed from the same files, case by case
/// (every case in expected/): timesteps and random draws exactly, text embeddings to 1e-4, the latents after every
/// step to 1e-3 + 1e-4·|x| with the SDK carrying its own latents forward, the image to 1e-3 and the PNG to ±1.
/// </summary>
[TestFixture]
public sealed class StableDiffusionReferenceTests
{
    [TestCaseSource(typeof(SdFixture), nameof(SdFixture.Cases))]
    public void TheTokenIdsMatchExactly(string name)
    {
        var c = SdFixture.Case(name);
        var tokenizer = SdFixture.Model.Tokenizer;
        Assert.That(tokenizer.Encode(c.Prompt), Is.EqualTo(c.PromptIds), "prompt");
        if (c.NegativeIds is { } negative) Assert.That(tokenizer.Encode(c.NegativePrompt ?? ""), Is.EqualTo(negative), "negative prompt (\"\" when none)");
    }

    [TestCaseSource(typeof(SdFixture), nameof(SdFixture.Cases))]
    public void TheTextEmbeddingsMatch(string name)
    {
        var c = SdFixture.Case(name);
        var model = SdFixture.Model;
        Tolerance.AssertClose(model.TextEncoder.Encode(c.PromptIds), Doubles(c.Tensor("text_embeddings", "prompt_embeds")), "prompt embeddings", abs: 1e-4, rel: 0);
        if (c.NegativeIds is { } negative)
            Tolerance.AssertClose(model.TextEncoder.Encode(negative), Doubles(c.Tensor("text_embeddings", "negative_prompt_embeds")), "negative prompt embeddings", abs: 1e-4, rel: 0);
    }

    [TestCaseSource(typeof(SdFixture), nameof(SdFixture.Cases))]
    public void TheRandomDrawsReplayExactly(string name)
    {
        var c = SdFixture.Case(name);
        var noise = new TorchGaussianNoise(c.Seed);
        foreach (var draw in c.RandomDraws)
        {
            var expected = SdReferenceCase.Values(draw);
            var actual = new float[SdReferenceCase.Shape(draw).Aggregate(1, (a, b) => a * b)];
            noise.NextGaussian(actual);
            Assert.That(actual, Is.EqualTo(expected), $"draw by {draw.GetProperty("by").GetString()}");
        }
    }

    [TestCaseSource(typeof(SdFixture), nameof(SdFixture.Cases))]
    public Task TheWholeRunMatchesStepForStep(string name) => RunAndCompare(SdFixture.Pipeline, name);

    [TestCaseSource(typeof(SdFixture), nameof(SdFixture.Cases))]
    public Task TheOptimumLayoutMatchesStepForStep(string name) => RunAndCompare(SdFixture.OptimumPipeline, name);

    private static Task RunAndCompare(StableDiffusionPipeline pipeline, string name) => RunAndCompare(pipeline, SdFixture.Case(name));

    /// <summary>Runs case <paramref name="c"/> through <paramref name="pipeline"/> and checks every step, the image and the PNG against it (the LoRA cases reuse it).</summary>
    internal static async Task<StableDiffusionResult> RunAndCompare(StableDiffusionPipeline pipeline, SdReferenceCase c)
    {
        var name = c.Name;
        var recorded = c.StepsRecorded;
        var steps = new List<(double T, float[] Latents)>();
        var result = await pipeline.GenerateAsync(SdFixture.Request(c, (step, latents) => steps.Add((step.Timestep, latents.ToArray()))));

        Assert.That(result.Timesteps, Is.EqualTo(recorded.Select(s => s.GetProperty("t").GetDouble())), "timesteps");
        Assert.That(result.UnetEvaluations, Is.EqualTo(c.Root.GetProperty("unet_calls").GetInt32()), "UNet calls");
        Tolerance.AssertClose(result.InitialLatents, Doubles(c.Tensor("initial_latents")), "initial latents", abs: 1e-3, rel: 1e-4);
        Assert.That(steps, Has.Count.EqualTo(recorded.Count));
        for (var i = 0; i < recorded.Count; i++)
            Tolerance.AssertClose(steps[i].Latents, Doubles(SdReferenceCase.Values(recorded[i].GetProperty("latents"))), $"latents after step {i} (t = {steps[i].T})", abs: 1e-3, rel: 1e-4);
        Tolerance.AssertClose(result.Latents, Doubles(c.Tensor("final_latents")), "final latents", abs: 1e-3, rel: 1e-4);
        var worstStep = Enumerable.Range(0, recorded.Count).Max(i => MaxDifference(steps[i].Latents, SdReferenceCase.Values(recorded[i].GetProperty("latents"))));
        TestContext.Out.WriteLine($"{name}: largest latent difference over the steps {worstStep:g3}");

        // The image: [64, 64, 3] HWC in the file, NCHW here.
        var expectedImage = c.Tensor("image");
        var shape = result.ImageShape;
        var plane = shape.Height * shape.Width;
        var hwc = new float[shape.ItemLength];
        for (var ch = 0; ch < 3; ch++)
            for (var p = 0; p < plane; p++)
                hwc[p * 3 + ch] = result.Images[ch * plane + p];
        Tolerance.AssertClose(hwc, Doubles(expectedImage), "image", abs: 1e-3, rel: 0);

        var ours = ImageResult.FromMemory(result.Png[0], ColorComponents.RedGreenBlue).Data;
        var theirs = ImageResult.FromMemory(c.ImagePng, ColorComponents.RedGreenBlue).Data;
        Assert.That(ours, Has.Length.EqualTo(theirs.Length));
        var worst = ours.Zip(theirs, (a, b) => Math.Abs(a - b)).Max();
        Assert.That(worst, Is.LessThanOrEqualTo(1), "PNG bytes differ by more than 1");
        return result;
    }

    private static double MaxDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();

    private static double[] Doubles(float[] values) => Array.ConvertAll(values, v => (double)v);
}
