using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.StableDiffusion;
using Generate;
using StbImageSharp;

namespace Diffusion.Sdk.Tests.Examples;

/// <summary>The command line with a Stable Diffusion folder: the reference cases' images and latents, and bad arguments that write nothing.</summary>
[TestFixture]
[NonParallelizable]
public sealed class GenerateStableDiffusionTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "generate-sd-" + Guid.NewGuid().ToString("N"))).FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    // In-process, holding the shared console lock (other tests capture the console too).
    private static Task<(int Code, string Out, string Error)> Run(params string[] args) => Diffusion.Sdk.Tests.Robustness.Cli.Run(args);

    [Test]
    public async Task TextToImageWritesTheReferencePictureAndItsLatents()
    {
        var c = SdFixture.Case("A2-txt2img-euler-ancestral-negative");
        var png = Path.Combine(_folder, "a2.png");
        var npy = Path.Combine(_folder, "a2.npy");
        var (code, output, error) = await Run("--model", SdFixture.ModelFolder, "--prompt", c.Prompt, "--negative-prompt", c.NegativePrompt!,
            "--sampler", "euler-ancestral", "--steps", "5", "--guidance", "7.5", "--seed", "1234", "--width", "64", "--height", "64", "--out", png, "--latents-out", npy);
        Assert.That(code, Is.Zero, error);
        Assert.That(output, Does.Contain("wrote"));
        var ours = ImageResult.FromMemory(File.ReadAllBytes(png), ColorComponents.RedGreenBlue).Data;
        var theirs = ImageResult.FromMemory(c.ImagePng, ColorComponents.RedGreenBlue).Data;
        Assert.That(ours.Zip(theirs, (a, b) => Math.Abs(a - b)).Max(), Is.LessThanOrEqualTo(1));

        // .npy v1.0: magic, version, header length, the dict, then little-endian float32 values.
        var bytes = File.ReadAllBytes(npy);
        Assert.That(bytes.Take(8), Is.EqualTo(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 }));
        var headerLength = BitConverter.ToUInt16(bytes, 8);
        var header = System.Text.Encoding.ASCII.GetString(bytes, 10, headerLength);
        Assert.That((10 + headerLength) % 64, Is.Zero);
        Assert.That(header, Does.StartWith("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4, 8, 8), }").And.EndWith("\n"));
        var latents = new float[256];
        Buffer.BlockCopy(bytes, 10 + headerLength, latents, 0, 1024);
        Support.Tolerance.AssertClose(latents, Array.ConvertAll(c.Tensor("final_latents"), v => (double)v), "final latents", abs: 1e-3, rel: 1e-4);
    }

    /// <summary>--spacing ays reaches the sampler: Euler takes the σ list (as ays-sigmas), which changes the picture, and PNDM is refused up front.</summary>
    [Test]
    public async Task AlignYourStepsSpacingReachesTheSampler()
    {
        string[] common = ["--model", SdFixture.ModelFolder, "--prompt", "a lighthouse", "--sampler", "euler", "--steps", "4", "--seed", "3"];
        var (code, _, error) = await Run([.. common, "--spacing", "ays", "--out", Path.Combine(_folder, "ays.png")]);
        Assert.That(code, Is.Zero, error);
        await Run([.. common, "--spacing", "ays-sigmas", "--out", Path.Combine(_folder, "sigmas.png")]);
        await Run([.. common, "--out", Path.Combine(_folder, "model.png")]);
        Assert.That(File.ReadAllBytes(Path.Combine(_folder, "sigmas.png")), Is.EqualTo(File.ReadAllBytes(Path.Combine(_folder, "ays.png"))));
        Assert.That(File.ReadAllBytes(Path.Combine(_folder, "model.png")), Is.Not.EqualTo(File.ReadAllBytes(Path.Combine(_folder, "ays.png"))));
        var (refused, _, why) = await Run("--model", SdFixture.ModelFolder, "--prompt", "a lighthouse", "--sampler", "pndm", "--spacing", "ays", "--out", Path.Combine(_folder, "pndm.png"));
        Assert.That(refused, Is.EqualTo(2));
        Assert.That(why, Does.Contain("--spacing").And.Contain("pndm"));
        Assert.That(File.Exists(Path.Combine(_folder, "pndm.png")), Is.False);
    }

    [Test]
    public async Task ImageToImageRunsFromAStartPicture()
    {
        var c = SdFixture.Case("A4-img2img-pndm");
        var input = Path.Combine(_folder, "input.png");
        File.WriteAllBytes(input, c.InputPng!);
        var png = Path.Combine(_folder, "a4.png");
        var (code, _, error) = await Run("--model", SdFixture.ModelFolder, "--prompt", c.Prompt, "--init-image", input, "--strength", "0.6", "--steps", "8",
            "--seed", "2024", "--out", png);
        Assert.That(code, Is.Zero, error);
        var ours = ImageResult.FromMemory(File.ReadAllBytes(png), ColorComponents.RedGreenBlue).Data;
        var theirs = ImageResult.FromMemory(c.ImagePng, ColorComponents.RedGreenBlue).Data;
        Assert.That(ours.Zip(theirs, (a, b) => Math.Abs(a - b)).Max(), Is.LessThanOrEqualTo(1));
    }

    [TestCase("--width", "60", "multiples of 8")]
    [TestCase("--strength", "1.5", "--strength")]
    [TestCase("--latents-out", "x.bin", ".npy")]
    public async Task BadArgumentsExitWithCodeTwoAndWriteNothing(string option, string value, string message)
    {
        var png = Path.Combine(_folder, "x.png");
        var (code, _, error) = await Run("--model", SdFixture.ModelFolder, "--prompt", "a cat", "--steps", "2", option, value, "--out", png);
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(2));
            Assert.That(error, Does.Contain(message));
            Assert.That(File.Exists(png), Is.False);
        });
    }

    [Test]
    public async Task AStableDiffusionFolderNeedsAPrompt()
    {
        var (code, _, error) = await Run("--model", SdFixture.ModelFolder, "--out", Path.Combine(_folder, "x.png"));
        Assert.That(code, Is.EqualTo(2));
        Assert.That(error, Does.Contain("--prompt"));
    }
}
