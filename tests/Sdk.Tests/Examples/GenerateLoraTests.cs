using Diffusion.Sdk.Tests.Lora;
using Diffusion.Sdk.Tests.StableDiffusion;
using StbImageSharp;

namespace Diffusion.Sdk.Tests.Examples;

/// <summary>--lora FILE[:WEIGHT] on the command line: the README's command gives the reference picture of case R2; bad adapters exit with code 2 and write nothing.</summary>
[TestFixture]
[NonParallelizable]
public sealed class GenerateLoraTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "generate-lora-" + Guid.NewGuid().ToString("N"))).FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    private static Task<(int Code, string Out, string Error)> Run(params string[] args) => Diffusion.Sdk.Tests.Robustness.Cli.Run(args);

    [Test]
    public async Task TheReadmeCommandGivesTheReferencePicture()
    {
        var c = LoraFixture.Case("R2-kohya-k1-0.6-k2-0.5");
        var png = Path.Combine(_folder, "lora.png");
        var (code, output, error) = await Run("--model", SdFixture.ModelFolder, "--prompt", c.Prompt, "--width", "64", "--height", "64", "--steps", "6",
            "--guidance", "7.5", "--seed", "42", "--lora", LoraFixture.K1 + ":0.6", "--lora", LoraFixture.K2 + ":0.5", "--out", png);
        Assert.That(code, Is.Zero, error);
        Assert.That(output, Does.Contain("kohya_k1_rank4_fp32.safetensors (kohya, weight 0.6): 64 of 64 modules applied"));
        Assert.That(output, Does.Contain("kohya_k2_rank4_fp16.safetensors (kohya, weight 0.5): 27 of 27 modules applied"));
        var ours = ImageResult.FromMemory(File.ReadAllBytes(png), ColorComponents.RedGreenBlue).Data;
        var theirs = ImageResult.FromMemory(c.ImagePng, ColorComponents.RedGreenBlue).Data;
        Assert.That(ours.Zip(theirs, (a, b) => Math.Abs(a - b)).Max(), Is.LessThanOrEqualTo(1));
    }

    [Test]
    public async Task BadAdaptersExitWithCodeTwoAndWriteNothing()
    {
        var png = Path.Combine(_folder, "x.png");
        var cut = Path.Combine(_folder, "cut.safetensors");
        File.WriteAllBytes(cut, File.ReadAllBytes(LoraFixture.K1)[..5000]);
        foreach (var (lora, message) in new[]
                 {
                     (Path.Combine(_folder, "missing.safetensors"), "does not exist"),
                     (LoraFixture.K1 + ":abc", "does not exist"),
                     (LoraFixture.K1 + ":NaN", "finite weight"),
                     (cut, "cut.safetensors"),
                 })
        {
            var (code, _, error) = await Run("--model", SdFixture.ModelFolder, "--prompt", "a cat", "--steps", "2", "--lora", lora, "--out", png);
            Assert.That(code, Is.EqualTo(2), lora);
            Assert.That(error, Does.Contain(message), lora);
            Assert.That(File.Exists(png), Is.False);
        }
        var (digitsCode, _, digitsError) = await Run("--lora", LoraFixture.K1, "--out", png);
        Assert.That(digitsCode, Is.EqualTo(2));
        Assert.That(digitsError, Does.Contain("--lora needs --prompt"));
    }
}
