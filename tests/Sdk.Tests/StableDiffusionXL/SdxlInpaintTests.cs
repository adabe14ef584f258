using System.Text.Json;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.StableDiffusionXL;

/// <summary>
/// Inpainting on the SDXL path, against diffusers' StableDiffusionXLInpaintPipeline run on synthetic SDXL exports
/// (TestData/sdxl-synthetic/inpaint, tools/sd-fixtures/make_sdxl_inpaint.py: diffusers' UNet in the tiny SDXL shape
/// with 9 input channels, the same with 4, a small VAE; the tiny SDXL export's tokenizers, encoders and Euler
/// scheduler): a hard mask at strength 1 and a soft mask at 0.75 through the 9-channel UNet (latents, mask and
/// masked-image latents concatenated), and the 4-channel UNet blending the noised start latents into the known region
/// after every step; under classifier-free guidance with a negative prompt. Timesteps exactly, the latents after every
/// step to 1e-3 + 1e-4·|x|, the image to 1e-3.
/// </summary>
[TestFixture]
public sealed class SdxlInpaintTests
{
    private static readonly string Synthetic = TestData.Path("sdxl-synthetic", "inpaint");

    public static IEnumerable<TestCaseData> Cases() =>
        Directory.GetFiles(Synthetic, "expected-*.json").Order(StringComparer.Ordinal)
            .Select(f => Path.GetFileNameWithoutExtension(f)["expected-".Length..]).Select(n => new TestCaseData(n).SetName(n));

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<string>> Folders = new();

    /// <summary>sdxl-tiny-optimum's files with the synthetic UNet (<paramref name="unet"/>: unet-9 or unet-4) and VAE, built once per run.</summary>
    private static string Folder(string unet) => Folders.GetOrAdd(unet, u => new Lazy<string>(() =>
    {
        var target = Path.Combine(Path.GetTempPath(), $"sdxl-inpaint-{u}-{Environment.ProcessId}");
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        Copy(SdxlFixture.BaseFolder, target);
        foreach (var (from, to) in new[] { (u, "unet"), ("vae_encoder", "vae_encoder"), ("vae_decoder", "vae_decoder") })
        {
            Directory.Delete(Path.Combine(target, to), recursive: true);
            Copy(Path.Combine(Synthetic, from), Path.Combine(target, to));
        }
        return target;
    })).Value;

    [TestCaseSource(nameof(Cases))]
    public async Task TheRunMatchesStepForStep(string name)
    {
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Synthetic, $"expected-{name}.json")));
        var e = expected.RootElement;
        var unet = e.GetProperty("unet").GetString()!;
        using var model = StableDiffusionModel.Load(Folder(unet));
        Assert.That(model.Xl, Is.Not.Null);
        Assert.That(model.Unet.Info.InputChannels, Is.EqualTo(unet == "unet-9" ? 9 : null), "9 channels read from the first convolution's weight");

        var steps = new List<float[]>();
        var result = await new StableDiffusionPipeline(model, TestHost.Factory).GenerateAsync(new StableDiffusionRequest
        {
            Prompt = e.GetProperty("prompt").GetString()!, NegativePrompt = e.GetProperty("negative_prompt").GetString(),
            GuidanceScale = e.GetProperty("guidance_scale").GetDouble(), Seed = e.GetProperty("seed").GetUInt64(), Steps = e.GetProperty("steps").GetInt32(),
            Width = e.GetProperty("width").GetInt32(), Height = e.GetProperty("height").GetInt32(), Strength = e.GetProperty("strength").GetDouble(),
            InitImage = File.ReadAllBytes(Path.Combine(Synthetic, e.GetProperty("image_png").GetString()!)),
            Mask = File.ReadAllBytes(Path.Combine(Synthetic, e.GetProperty("mask_png").GetString()!)),
            OnStep = (_, latents) => steps.Add(latents.ToArray()),
        });

        var recorded = e.GetProperty("steps_recorded").EnumerateArray().ToList();
        Assert.That(result.Timesteps, Is.EqualTo(e.GetProperty("timesteps").EnumerateArray().Select(t => t.GetDouble())), "timesteps");
        Assert.That(steps, Has.Count.EqualTo(recorded.Count));
        for (var i = 0; i < recorded.Count; i++)
            Tolerance.AssertClose(steps[i], Values(recorded[i].GetProperty("latents")), $"latents after step {i}", abs: 1e-3, rel: 1e-4);
        Tolerance.AssertClose(result.Latents, Values(recorded[^1].GetProperty("latents")), "final latents", abs: 1e-3, rel: 1e-4);

        var shape = result.ImageShape;
        var plane = shape.Height * shape.Width;
        var hwc = new float[shape.ItemLength];
        for (var ch = 0; ch < 3; ch++)
            for (var p = 0; p < plane; p++)
                hwc[p * 3 + ch] = result.Images[ch * plane + p];
        Tolerance.AssertClose(hwc, Values(e.GetProperty("image")), "image", abs: 1e-3, rel: 0);
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
