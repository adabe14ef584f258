using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;
using Diffusion.Sdk.Tests.Support;
using StbImageSharp;

namespace Diffusion.Sdk.Tests.StableDiffusionXL;

/// <summary>
/// The tiny SDXL export (and its refiner) against what diffusers' StableDiffusionXLPipeline and
/// StableDiffusionXLImg2ImgPipeline computed from the same files, stage by stage: the timesteps exactly, the latents
/// entering the loop and after every step to 1e-3 + 1e-4·|x| (the SDK carrying its own latents forward), the final
/// latents, the image to 1e-3 and the PNG to ±1. Each stage runs through the one pipeline as a request; the base →
/// refiner case also runs as one request with HighNoiseFraction.
/// </summary>
[TestFixture]
public sealed class SdxlPipelineReferenceTests
{
    [TestCaseSource(typeof(SdxlFixture), nameof(SdxlFixture.Cases))]
    public async Task EveryStageMatchesStepForStep(string name)
    {
        var c = SdxlFixture.Case(name);
        var noiseFromPreviousStage = (float[]?)null;
        foreach (var stage in c.Stages)
        {
            // A refiner stage continues the base's generator; with Euler it draws nothing, so a fresh one reproduces it
            // (the one-request test below shares the generator for real).
            Assert.That(stage.RandomDraws.Count == 0 || stage == c.Stages[0], "a later stage of this fixture draws nothing");
            var pipeline = stage.ModelFolder == Path.GetFullPath(SdxlFixture.RefinerFolder) ? SdxlFixture.RefinerPipeline : SdxlFixture.Pipeline;
            var steps = new List<float[]>();
            var request = SdxlRequests.For(stage, (_, latents) => steps.Add(latents.ToArray()));
            if (noiseFromPreviousStage is not null) request = request with { InitLatents = noiseFromPreviousStage, Width = 64, Height = 64 };
            var result = await pipeline.GenerateAsync(request);
            Compare(stage, result, steps);
            noiseFromPreviousStage = result.Latents;
        }
    }

    [Test]
    public async Task BaseThenRefinerRunAsOneRequest()
    {
        var c = SdxlFixture.Case("X5-base-refiner-ensemble");
        var (first, second) = (c.Stages[0], c.Stages[1]);
        var steps = new List<float[]>();
        var request = SdxlRequests.For(first, (_, latents) => steps.Add(latents.ToArray())) with
        {
            DenoisingEnd = null, LatentsOnly = false, HighNoiseFraction = first.Number("denoising_end"),
            MicroConditioning = second.MicroConditioning, // the refiner's aesthetic scores; the base reads none of them
        };
        var result = await SdxlFixture.Pipeline.GenerateAsync(request);
        var expectedSteps = first.StepsRecorded.Concat(second.StepsRecorded).ToList();
        Assert.That(result.Timesteps, Is.EqualTo(expectedSteps.Select(s => s.GetProperty("t").GetDouble())), "timesteps of both stages");
        Assert.That(steps, Has.Count.EqualTo(expectedSteps.Count));
        for (var i = 0; i < steps.Count; i++)
            Tolerance.AssertClose(steps[i], Doubles(SdReferenceCase.Values(expectedSteps[i].GetProperty("latents"))), $"latents after step {i}", abs: 1e-3, rel: 1e-4);
        Assert.That(result.UnetEvaluations, Is.EqualTo(first.Root.GetProperty("unet_calls").GetInt32() + second.Root.GetProperty("unet_calls").GetInt32()));
        CompareImage(second, result);
    }

    private static void Compare(SdxlStage stage, StableDiffusionResult result, List<float[]> steps)
    {
        var recorded = stage.StepsRecorded;
        Assert.That(result.Timesteps, Is.EqualTo(recorded.Select(s => s.GetProperty("t").GetDouble())), "timesteps");
        Assert.That(result.UnetEvaluations, Is.EqualTo(stage.Root.GetProperty("unet_calls").GetInt32()), "UNet calls");
        Tolerance.AssertClose(result.InitialLatents, Doubles(stage.Tensor("initial_latents")), "initial latents", abs: 1e-3, rel: 1e-4);
        Assert.That(steps, Has.Count.EqualTo(recorded.Count));
        for (var i = 0; i < recorded.Count; i++)
            Tolerance.AssertClose(steps[i], Doubles(SdReferenceCase.Values(recorded[i].GetProperty("latents"))), $"latents after step {i}", abs: 1e-3, rel: 1e-4);
        Tolerance.AssertClose(result.Latents, Doubles(stage.Tensor("final_latents")), "final latents", abs: 1e-3, rel: 1e-4);
        if (stage.Has("image")) CompareImage(stage, result);
        else Assert.That(result.Images, Is.Empty, "latents only: no image");
    }

    private static void CompareImage(SdxlStage stage, StableDiffusionResult result)
    {
        // The image: [N, H, W, 3] in the file, NCHW here.
        var expected = stage.Tensor("image");
        var shape = result.ImageShape;
        var plane = shape.Height * shape.Width;
        var nhwc = new float[shape.Length];
        for (var b = 0; b < shape.Batch; b++)
            for (var ch = 0; ch < 3; ch++)
                for (var p = 0; p < plane; p++)
                    nhwc[b * shape.ItemLength + p * 3 + ch] = result.Images[b * shape.ItemLength + ch * plane + p];
        Tolerance.AssertClose(nhwc, Doubles(expected), "image", abs: 1e-3, rel: 0);
        var pngs = stage.Root.GetProperty("image_png").EnumerateArray().Select(e => e.GetString()!).ToList();
        for (var b = 0; b < pngs.Count; b++)
        {
            var ours = ImageResult.FromMemory(result.Png[b], ColorComponents.RedGreenBlue).Data;
            var theirs = ImageResult.FromMemory(File.ReadAllBytes(Path.Combine(stage.Case.Folder, pngs[b])), ColorComponents.RedGreenBlue).Data;
            Assert.That(ours, Has.Length.EqualTo(theirs.Length));
            Assert.That(ours.Zip(theirs, (a, x) => Math.Abs(a - x)).Max(), Is.LessThanOrEqualTo(1), $"PNG {b}: bytes differ by more than 1");
        }
    }

    private static double[] Doubles(float[] values) => Array.ConvertAll(values, v => (double)v);
}
