using Diffusion.Sdk.Tests.StableDiffusion;
using StbImageSharp;

namespace Diffusion.Sdk.Tests.Examples;

/// <summary>
/// The command lines of docs/text-to-image.md for distilled and masked generation, as written there, on the fixtures:
/// the reference cases' pictures and (LCM) the denoised latents that <c>--latents-out</c> writes.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class GenerateLcmInpaintTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "generate-lcm-" + Guid.NewGuid().ToString("N"))).FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    private static Task<(int Code, string Out, string Error)> Run(params string[] args) => Diffusion.Sdk.Tests.Robustness.Cli.Run(args);

    [Test]
    public async Task LcmTextToImageWritesTheReferencePictureAndTheDenoisedLatents()
    {
        var c = LcmFixture.Case("L2-lcm-txt2img-2steps-orig50-g3");
        var png = Path.Combine(_folder, "lcm.png");
        var npy = Path.Combine(_folder, "lcm.npy");
        var (code, output, error) = await Run("--model", LcmFixture.ModelFolder, "--prompt", c.Prompt, "--steps", "2", "--guidance", "3",
            "--original-inference-steps", "50", "--seed", "1234", "--out", png, "--latents-out", npy);
        Assert.That(code, Is.Zero, error);
        Assert.That(output, Does.Contain("lcm").And.Contain("2 UNet calls"));
        AssertPicture(png, c.ImagePng);
        Support.Tolerance.AssertClose(ReadNpy(npy, 256), ReferenceRun.Doubles(c.Tensor("final_denoised")), "the latents written", abs: 1e-3, rel: 1e-4);
    }

    [Test]
    public async Task LcmImageToImageRunsFromAStartPicture()
    {
        var c = LcmFixture.Case("L3-lcm-img2img-strength0.5");
        var input = Path.Combine(_folder, "input.png");
        File.WriteAllBytes(input, c.InputPng!);
        var png = Path.Combine(_folder, "l3.png");
        var (code, _, error) = await Run("--model", LcmFixture.ModelFolder, "--prompt", c.Prompt, "--init-image", input, "--strength", "0.5",
            "--steps", "4", "--guidance", "8", "--seed", "2024", "--out", png);
        Assert.That(code, Is.Zero, error);
        AssertPicture(png, c.ImagePng);
    }

    [Test]
    public async Task InpaintingWithTheNineChannelUnetWritesTheReferencePicture()
    {
        var c = InpaintFixture.Case("P1-inpaint9-rect-strength1-pndm");
        var (input, mask) = (Path.Combine(_folder, "input.png"), Path.Combine(_folder, "mask.png"));
        File.WriteAllBytes(input, InpaintFixture.InputPng(c));
        File.WriteAllBytes(mask, InpaintFixture.MaskPng(c));
        var png = Path.Combine(_folder, "p1.png");
        // No --strength: with --mask it is 1, the reference inpainting pipeline's default.
        var (code, _, error) = await Run("--model", InpaintFixture.ModelFolder, "--prompt", c.Prompt, "--init-image", input, "--mask", mask,
            "--steps", "6", "--guidance", "7.5", "--seed", "42", "--out", png);
        Assert.That(code, Is.Zero, error);
        AssertPicture(png, c.ImagePng);
    }

    [Test]
    public async Task InpaintingWithAnOrdinaryUnetBlendsAndWritesTheReferencePicture()
    {
        var c = InpaintFixture.Case("P3-inpaint4-rect-pndm-sd-tiny-legacy");
        var (input, mask) = (Path.Combine(_folder, "input.png"), Path.Combine(_folder, "mask.png"));
        File.WriteAllBytes(input, InpaintFixture.InputPng(c));
        File.WriteAllBytes(mask, InpaintFixture.MaskPng(c));
        var png = Path.Combine(_folder, "p3.png");
        var (code, _, error) = await Run("--model", SdFixture.ModelFolder, "--prompt", c.Prompt, "--init-image", input, "--mask", mask,
            "--steps", "5", "--guidance", "7.5", "--seed", "2024", "--out", png);
        Assert.That(code, Is.Zero, error);
        AssertPicture(png, c.ImagePng);
    }

    [Test]
    public async Task AMaskWithoutAPictureExitsWithCodeTwo()
    {
        var c = InpaintFixture.Case("P1-inpaint9-rect-strength1-pndm");
        var mask = Path.Combine(_folder, "mask.png");
        File.WriteAllBytes(mask, InpaintFixture.MaskPng(c));
        var (code, _, error) = await Run("--model", InpaintFixture.ModelFolder, "--prompt", "a", "--mask", mask, "--steps", "2", "--out", Path.Combine(_folder, "x.png"));
        Assert.That(code, Is.EqualTo(2));
        Assert.That(error, Does.Contain("--init-image"));
    }

    private static void AssertPicture(string png, byte[] reference)
    {
        var ours = ImageResult.FromMemory(File.ReadAllBytes(png), ColorComponents.RedGreenBlue).Data;
        var theirs = ImageResult.FromMemory(reference, ColorComponents.RedGreenBlue).Data;
        Assert.That(ours, Has.Length.EqualTo(theirs.Length));
        Assert.That(ours.Zip(theirs, (a, b) => Math.Abs(a - b)).Max(), Is.LessThanOrEqualTo(1));
    }

    private static float[] ReadNpy(string file, int count)
    {
        var bytes = File.ReadAllBytes(file);
        var headerLength = BitConverter.ToUInt16(bytes, 8);
        var values = new float[count];
        Buffer.BlockCopy(bytes, 10 + headerLength, values, 0, count * 4);
        return values;
    }
}
