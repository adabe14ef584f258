using System.Text.Json;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.StableDiffusionXL;

/// <summary>
/// LCM on the SDXL path: the tiny SDXL export with its UNet replaced by a synthetic SDXL-shaped LCM UNet (the same
/// inputs plus <c>timestep_cond</c> [B, 256]; TestData/sdxl-synthetic/lcm, made with diffusers' LCMScheduler by
/// tools/sd-fixtures/make_sdxl_lcm.py) and LCMScheduler in its scheduler folder. Against StableDiffusionXLPipeline's
/// loop for such a UNet: no classifier-free guidance, the guidance embedding of w = guidance − 1 beside the two
/// encoders' conditioning, the scheduler's draws between steps; timesteps exactly, latents after every step and the
/// final (denoised) latents to 1e-3 + 1e-4·|x|.
/// </summary>
[TestFixture]
public sealed class SdxlLcmTests
{
    private static readonly string Synthetic = TestData.Path("sdxl-synthetic", "lcm");

    private static readonly Lazy<string> Folder = new(() =>
    {
        // sdxl-tiny-optimum's files, with the synthetic UNet and LCM's scheduler configuration.
        var target = Path.Combine(Path.GetTempPath(), "sdxl-tiny-lcm-" + Environment.ProcessId);
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        foreach (var (from, root) in new[] { (SdxlFixture.BaseFolder, SdxlFixture.BaseFolder), (Path.Combine(Synthetic, "unet"), Synthetic), (Path.Combine(Synthetic, "scheduler"), Synthetic) })
            foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            {
                var copy = Path.Combine(target, Path.GetRelativePath(root, file));
                Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
                File.Copy(file, copy, overwrite: true);
                File.SetAttributes(copy, FileAttributes.Normal);
            }
        return target;
    });

    [Test]
    public async Task TheSdxlPipelineRunsAnLcmUnetAsTheReferenceDoes()
    {
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Synthetic, "expected.json")));
        var e = expected.RootElement;
        using var model = StableDiffusionModel.Load(Folder.Value);
        Assert.That(model.Xl, Is.Not.Null, "an SDXL export");
        Assert.That(model.GuidanceEmbeddingDimension, Is.EqualTo(256), "read from the session's timestep_cond");

        var pipeline = new StableDiffusionPipeline(model, TestHost.Factory);
        var steps = new List<float[]>();
        var result = await pipeline.GenerateAsync(new StableDiffusionRequest
        {
            Prompt = e.GetProperty("prompt").GetString()!, Steps = e.GetProperty("steps").GetInt32(), GuidanceScale = e.GetProperty("guidance_scale").GetDouble(),
            Seed = e.GetProperty("seed").GetUInt64(), Width = e.GetProperty("width").GetInt32(), Height = e.GetProperty("height").GetInt32(),
            OnStep = (_, latents) => steps.Add(latents.ToArray()),
        });

        var recorded = e.GetProperty("steps_recorded").EnumerateArray().ToList();
        Assert.Multiple(() =>
        {
            Assert.That(result.SamplerName, Is.EqualTo("lcm"), "the model's own sampler");
            Assert.That(result.Timesteps, Is.EqualTo(e.GetProperty("timesteps").EnumerateArray().Select(t => t.GetDouble())));
            Assert.That(result.UnetEvaluations, Is.EqualTo(recorded.Count), "one UNet call per step: no guidance batch");
        });
        Tolerance.AssertClose(result.InitialLatents, Values(e.GetProperty("initial_latents")), "initial latents", abs: 1e-3, rel: 1e-4);
        Assert.That(steps, Has.Count.EqualTo(recorded.Count));
        for (var i = 0; i < recorded.Count; i++)
            Tolerance.AssertClose(steps[i], Values(recorded[i].GetProperty("latents")), $"latents after step {i}", abs: 1e-3, rel: 1e-4);
        Tolerance.AssertClose(result.Latents, Values(e.GetProperty("final_latents")), "final latents (the last denoised sample)", abs: 1e-3, rel: 1e-4);
        Assert.That(result.Images, Has.All.Matches<float>(v => v >= 0 && v <= 1), "decoded by the SDXL VAE");
    }

    [Test]
    public async Task TheGuidanceScaleReachesTheUnetAsItsEmbedding()
    {
        // Another guidance scale changes only timestep_cond: the run differs, and still takes one UNet call per step.
        using var model = StableDiffusionModel.Load(Folder.Value);
        var pipeline = new StableDiffusionPipeline(model, TestHost.Factory);
        var request = new StableDiffusionRequest { Prompt = "a cat", Steps = 2, GuidanceScale = 8.5, Seed = 7, Width = 64, Height = 64, LatentsOnly = true };
        var a = await pipeline.GenerateAsync(request);
        var b = await pipeline.GenerateAsync(request with { GuidanceScale = 2 });
        Assert.That(b.UnetEvaluations, Is.EqualTo(2));
        Assert.That(a.Latents.Zip(b.Latents, (x, y) => Math.Abs(x - y)).Max(), Is.GreaterThan(1e-3f));
    }

    private static double[] Values(JsonElement array) => [.. array.EnumerateArray().Select(v => v.GetDouble())];
}
