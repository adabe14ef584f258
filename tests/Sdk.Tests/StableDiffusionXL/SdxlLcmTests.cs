using System.Text.Json;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.StableDiffusionXL;

/// <summary>
/// LCM on the SDXL path: the tiny SDXL export with a synthetic SDXL LCM UNet (diffusers' UNet2DConditionModel in the
/// tiny SDXL shape with time_cond_proj_dim 256: the same inputs plus <c>timestep_cond</c>), LCMScheduler and
/// sdxl-synthetic/inpaint's VAE (TestData/sdxl-synthetic/lcm, tools/sd-fixtures/make_sdxl_lcm.py). Against diffusers'
/// own StableDiffusionXLPipeline and StableDiffusionXLImg2ImgPipeline run on the same weights: no classifier-free
/// guidance, the guidance embedding of w = guidance − 1 beside the two encoders' conditioning, the scheduler's draws
/// between steps, and for image to image the schedule sliced by the strength as SDXL's image-to-image pipeline slices
/// it. Timesteps exactly, latents after every step and the returned latents to 1e-3 + 1e-4·|x|.
/// </summary>
[TestFixture]
public sealed class SdxlLcmTests
{
    private static readonly string Synthetic = TestData.Path("sdxl-synthetic", "lcm");

    private static readonly string SyntheticVae = TestData.Path("sdxl-synthetic", "inpaint");

    public static IEnumerable<TestCaseData> Cases() =>
        Directory.GetFiles(Synthetic, "expected-*.json").Order(StringComparer.Ordinal)
            .Select(f => Path.GetFileNameWithoutExtension(f)["expected-".Length..]).Select(n => new TestCaseData(n).SetName(n));

    private static readonly Lazy<string> Folder = new(() =>
    {
        // sdxl-tiny-optimum's files, with the synthetic UNet, LCM's scheduler configuration and the synthetic VAE.
        var target = Path.Combine(Path.GetTempPath(), "sdxl-tiny-lcm-" + Environment.ProcessId);
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        Copy(SdxlFixture.BaseFolder, target);
        foreach (var (from, to) in new[] { (Path.Combine(Synthetic, "unet"), "unet"), (Path.Combine(Synthetic, "scheduler"), "scheduler"),
                     (Path.Combine(SyntheticVae, "vae_encoder"), "vae_encoder"), (Path.Combine(SyntheticVae, "vae_decoder"), "vae_decoder") })
        {
            Directory.Delete(Path.Combine(target, to), recursive: true);
            Copy(from, Path.Combine(target, to));
        }
        return target;
    });

    private static readonly Lazy<StableDiffusionModel> Model = new(() => StableDiffusionModel.Load(Folder.Value));

    [TestCaseSource(nameof(Cases))]
    public async Task TheSdxlPipelineRunsAnLcmUnetAsTheReferenceDoes(string name)
    {
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Synthetic, $"expected-{name}.json")));
        var e = expected.RootElement;
        var model = Model.Value;
        Assert.That(model.Xl, Is.Not.Null, "an SDXL export");
        Assert.That(model.GuidanceEmbeddingDimension, Is.EqualTo(256), "read from the session's timestep_cond");

        var steps = new List<float[]>();
        var imageToImage = e.GetProperty("strength").ValueKind == JsonValueKind.Number;
        var result = await new StableDiffusionPipeline(model, TestHost.Factory).GenerateAsync(new StableDiffusionRequest
        {
            Prompt = e.GetProperty("prompt").GetString()!, Steps = e.GetProperty("steps").GetInt32(), GuidanceScale = e.GetProperty("guidance_scale").GetDouble(),
            Seed = e.GetProperty("seed").GetUInt64(), Width = e.GetProperty("width").GetInt32(), Height = e.GetProperty("height").GetInt32(),
            InitImage = imageToImage ? File.ReadAllBytes(Path.Combine(Synthetic, e.GetProperty("image_png").GetString()!)) : null,
            Strength = imageToImage ? e.GetProperty("strength").GetDouble() : 0.8,
            OnStep = (_, latents) => steps.Add(latents.ToArray()),
        });

        var recorded = e.GetProperty("steps_recorded").EnumerateArray().ToList();
        Assert.Multiple(() =>
        {
            Assert.That(result.SamplerName, Is.EqualTo("lcm"), "the model's own sampler");
            Assert.That(result.Timesteps, Is.EqualTo(e.GetProperty("timesteps").EnumerateArray().Select(t => t.GetDouble())));
            Assert.That(result.UnetEvaluations, Is.EqualTo(recorded.Count), "one UNet call per step: no guidance batch");
        });
        Assert.That(steps, Has.Count.EqualTo(recorded.Count));
        for (var i = 0; i < recorded.Count; i++)
            Tolerance.AssertClose(steps[i], Values(recorded[i].GetProperty("latents")), $"latents after step {i}", abs: 1e-3, rel: 1e-4);
        Tolerance.AssertClose(result.Latents, Values(e.GetProperty("final_latents")), "returned latents (the last denoised sample)", abs: 1e-3, rel: 1e-4);
    }

    [Test]
    public async Task TheGuidanceScaleReachesTheUnetAsItsEmbedding()
    {
        // Another guidance scale changes only timestep_cond: the run differs, and still takes one UNet call per step.
        var pipeline = new StableDiffusionPipeline(Model.Value, TestHost.Factory);
        var request = new StableDiffusionRequest { Prompt = "a cat", Steps = 2, GuidanceScale = 8.5, Seed = 7, Width = 64, Height = 64, LatentsOnly = true };
        var a = await pipeline.GenerateAsync(request);
        var b = await pipeline.GenerateAsync(request with { GuidanceScale = 2 });
        Assert.That(b.UnetEvaluations, Is.EqualTo(2));
        Assert.That(a.Latents.Zip(b.Latents, (x, y) => Math.Abs(x - y)).Max(), Is.GreaterThan(1e-2f));
    }

    private static double[] Values(JsonElement array) => [.. array.EnumerateArray().Select(v => v.GetDouble())];

    private static void Copy(string from, string to)
    {
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy, overwrite: true);
            File.SetAttributes(copy, FileAttributes.Normal);
        }
    }
}
