using Diffusion.Sdk.Tests.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusionXL;
using StbImageSharp;

namespace Diffusion.Sdk.Tests.Examples;

/// <summary>The command line with the SDXL fixture: base → refiner and micro-conditioned image to image reproduce the reference pictures, and bad SDXL options write nothing.</summary>
[TestFixture]
[NonParallelizable]
public sealed class GenerateSdxlTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "generate-sdxl-" + Guid.NewGuid().ToString("N"))).FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    private static Task<(int Code, string Out, string Error)> Run(params string[] args) => Diffusion.Sdk.Tests.Robustness.Cli.Run(args);

    [Test]
    public async Task BaseThenRefinerWritesTheReferencePictureAndTheRefinersLatents()
    {
        var refiner = SdxlFixture.Case("X5-base-refiner-ensemble").Stages[1];
        var png = Path.Combine(_folder, "lion.png");
        var npy = Path.Combine(_folder, "lion.npy");
        var (code, _, error) = await Run("--model", SdxlFixture.BaseFolder, "--refiner", SdxlFixture.RefinerFolder, "--high-noise-fraction", "0.8",
            "--prompt", refiner.Text("prompt")!, "--steps", "10", "--guidance", "5", "--seed", "99", "--out", png, "--latents-out", npy);
        Assert.That(code, Is.Zero, error);
        AssertPng(png, Path.Combine(refiner.Case.Folder, refiner.Root.GetProperty("image_png")[0].GetString()!));
        var bytes = File.ReadAllBytes(npy);
        var headerLength = BitConverter.ToUInt16(bytes, 8);
        var latents = new float[256];
        Buffer.BlockCopy(bytes, 10 + headerLength, latents, 0, 1024);
        Support.Tolerance.AssertClose(latents, Array.ConvertAll(refiner.Tensor("final_latents"), v => (double)v), "the refiner's final latents", abs: 1e-3, rel: 1e-4);
    }

    [Test]
    public async Task MicroConditionedImageToImageWritesTheReferencePicture()
    {
        var stage = SdxlFixture.Case("X4-img2img-euler-size-conditioning").Stages[0];
        var input = Path.Combine(stage.Case.Folder, stage.Root.GetProperty("img2img").GetProperty("input_image_png").GetString()!);
        var png = Path.Combine(_folder, "x4.png");
        var (code, _, error) = await Run("--model", SdxlFixture.BaseFolder, "--prompt", stage.Text("prompt")!, "--negative-prompt", stage.Text("negative_prompt")!,
            "--init-image", input, "--strength", "0.6", "--steps", "8", "--guidance", "5", "--seed", "2024",
            "--original-size", "1024,768", "--crops-coords", "16,32", "--target-size", "512,512", "--negative-original-size", "256,256", "--out", png);
        Assert.That(code, Is.Zero, error);
        AssertPng(png, Path.Combine(stage.Case.Folder, stage.Root.GetProperty("image_png")[0].GetString()!));
    }

    [TestCase("--original-size", "1024", "H,W")]
    [TestCase("--crops-coords", "a,b", "TOP,LEFT")]
    [TestCase("--high-noise-fraction", "0.8", "--refiner")]
    [TestCase("--clip-skip", "-1", "--clip-skip")]
    [TestCase("--prompt-2", "x", "pairs with --prompt")]
    public async Task BadSdxlArgumentsExitWithCodeTwoAndWriteNothing(string option, string value, string message)
    {
        var png = Path.Combine(_folder, "x.png");
        string[] extra = option == "--prompt-2" ? ["--prompt-2", "y"] : [];
        var (code, _, error) = await Run(["--model", SdxlFixture.BaseFolder, "--prompt", "a cat", "--steps", "2", option, value, .. extra, "--out", png]);
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(2));
            Assert.That(error, Does.Contain(message));
            Assert.That(File.Exists(png), Is.False);
        });
    }

    private static void AssertPng(string ours, string theirs)
    {
        var a = ImageResult.FromMemory(File.ReadAllBytes(ours), ColorComponents.RedGreenBlue).Data;
        var b = ImageResult.FromMemory(File.ReadAllBytes(theirs), ColorComponents.RedGreenBlue).Data;
        Assert.That(a, Has.Length.EqualTo(b.Length));
        Assert.That(a.Zip(b, (x, y) => Math.Abs(x - y)).Max(), Is.LessThanOrEqualTo(1));
    }
}
