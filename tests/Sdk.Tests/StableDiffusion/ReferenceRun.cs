using System.Text.Json;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;
using StbImageSharp;

namespace Diffusion.Sdk.Tests.StableDiffusion;

/// <summary>
/// Runs a reference case through a pipeline, recording the latents after every step, and compares what every pipeline
/// case records the same way: timesteps exactly, UNet calls, the latents after every step to 1e-3 + 1e-4·|x| (the SDK
/// carrying its own latents forward), the final latents, the image to 1e-3 and the PNG to ±1 per byte.
/// </summary>
public static class ReferenceRun
{
    public static async Task<StableDiffusionResult> RunAndCompare(StableDiffusionPipeline pipeline, SdReferenceCase c, StableDiffusionRequest request, string finalLatentsKey = "final_latents")
    {
        var recorded = c.StepsRecorded;
        var steps = new List<(double T, float[] Latents)>();
        var result = await pipeline.GenerateAsync(WithStepRecorder(request, steps));

        Assert.That(result.Timesteps, Is.EqualTo(recorded.Select(s => s.GetProperty("t").GetDouble())), "timesteps");
        Assert.That(result.UnetEvaluations, Is.EqualTo(c.Root.GetProperty("unet_calls").GetInt32()), "UNet calls");
        Tolerance.AssertClose(result.InitialLatents, Doubles(c.Tensor("initial_latents")), "initial latents", abs: 1e-3, rel: 1e-4);
        Assert.That(steps, Has.Count.EqualTo(recorded.Count));
        var worst = 0.0;
        for (var i = 0; i < recorded.Count; i++)
        {
            var expected = SdReferenceCase.Values(recorded[i].GetProperty("latents"));
            Tolerance.AssertClose(steps[i].Latents, Doubles(expected), $"latents after step {i} (t = {steps[i].T})", abs: 1e-3, rel: 1e-4);
            worst = Math.Max(worst, steps[i].Latents.Zip(expected, (a, b) => Math.Abs((double)a - b)).Max());
        }
        Tolerance.AssertClose(result.Latents, Doubles(c.Tensor(finalLatentsKey)), finalLatentsKey, abs: 1e-3, rel: 1e-4);
        TestContext.Out.WriteLine($"{c.Name}: largest latent difference over the steps {worst:g3}");
        AssertImage(result, c);
        return result;
    }

    /// <summary>The image ([H, W, 3] HWC in the file, NCHW in the result) to 1e-3, and the PNG to ±1 per byte.</summary>
    public static void AssertImage(StableDiffusionResult result, SdReferenceCase c)
    {
        var shape = result.ImageShape;
        var plane = shape.Height * shape.Width;
        var hwc = new float[shape.ItemLength];
        for (var ch = 0; ch < 3; ch++)
            for (var p = 0; p < plane; p++)
                hwc[p * 3 + ch] = result.Images[ch * plane + p];
        Tolerance.AssertClose(hwc, Doubles(c.Tensor("image")), "image", abs: 1e-3, rel: 0);

        var ours = ImageResult.FromMemory(result.Png[0], ColorComponents.RedGreenBlue).Data;
        var theirs = ImageResult.FromMemory(c.ImagePng, ColorComponents.RedGreenBlue).Data;
        Assert.That(ours, Has.Length.EqualTo(theirs.Length));
        Assert.That(ours.Zip(theirs, (a, b) => Math.Abs(a - b)).Max(), Is.LessThanOrEqualTo(1), "PNG bytes differ by more than 1");
    }

    /// <summary>Replays a case's random draws on a fresh generator: each must come out bit for bit.</summary>
    public static void AssertDrawsReplay(SdReferenceCase c)
    {
        var noise = new Diffusion.Sdk.Sampling.TorchGaussianNoise(c.Seed);
        foreach (var draw in c.RandomDraws)
        {
            var expected = SdReferenceCase.Values(draw);
            var actual = new float[SdReferenceCase.Shape(draw).Aggregate(1, (a, b) => a * b)];
            noise.NextGaussian(actual);
            Assert.That(actual, Is.EqualTo(expected), $"draw by {draw.GetProperty("by").GetString()}");
        }
    }

    private static StableDiffusionRequest WithStepRecorder(StableDiffusionRequest request, List<(double T, float[] Latents)> steps) => new()
    {
        Prompt = request.Prompt, Prompts = request.Prompts, NegativePrompt = request.NegativePrompt, Width = request.Width, Height = request.Height,
        GuidanceScale = request.GuidanceScale, GuidanceRescale = request.GuidanceRescale, Steps = request.Steps, Seed = request.Seed,
        Sampler = request.Sampler, Sampling = request.Sampling, ImagesPerPrompt = request.ImagesPerPrompt, InitImage = request.InitImage,
        Mask = request.Mask, Strength = request.Strength, OriginalInferenceSteps = request.OriginalInferenceSteps,
        OnStep = (step, latents) => steps.Add((step.Timestep, latents.ToArray())),
    };

    public static double[] Doubles(float[] values) => Array.ConvertAll(values, v => (double)v);
}
