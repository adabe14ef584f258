using Diffusion.Sdk.Tests.Prompts;
using Diffusion.Sdk.Tests.StableDiffusion;
using StbImageSharp;

namespace Diffusion.Sdk.Tests.Examples;

/// <summary>
/// The command line's --prompt-syntax, --prompt-max-windows and --embeddings-out: the reference long-prompt run W8
/// (a short weighted prompt, a two-window weighted negative) gives its picture and the UNet's conditioning in the
/// reference's batch order, and bad arguments exit with code 2 and write nothing.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class GeneratePromptSyntaxTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "generate-prompts-" + Guid.NewGuid().ToString("N"))).FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    private static Task<(int Code, string Out, string Error)> Run(params string[] args) => Diffusion.Sdk.Tests.Robustness.Cli.Run(args);

    [Test]
    public async Task TheLongWeightedRunWritesItsPictureAndTheConditioning()
    {
        var c = PromptCase.All.First(p => p.Id == "W8-weighted-long-negative");
        var png = Path.Combine(_folder, "w8.png");
        var npy = Path.Combine(_folder, "w8-embeddings.npy");
        var (code, output, error) = await Run("--model", SdFixture.ModelFolder, "--prompt", c.Prompt, "--negative-prompt", c.NegativePrompt!,
            "--prompt-syntax", "a1111", "--prompt-max-windows", "3", "--steps", "5", "--guidance", "7", "--seed", "7", "--width", "64", "--height", "64",
            "--out", png, "--embeddings-out", npy);
        Assert.That(code, Is.Zero, error);
        Assert.That(output, Does.Contain(npy));
        var ours = ImageResult.FromMemory(File.ReadAllBytes(png), ColorComponents.RedGreenBlue).Data;
        var theirs = ImageResult.FromMemory(File.ReadAllBytes(TestData.Path("prompts", "W8-weighted-long-negative.png")), ColorComponents.RedGreenBlue).Data;
        Assert.That(ours.Zip(theirs, (a, b) => Math.Abs(a - b)).Max(), Is.LessThanOrEqualTo(1));

        // [2, 154, 32]: the negative prompt's row, then the prompt's, as the reference concatenates them.
        var bytes = File.ReadAllBytes(npy);
        var headerLength = BitConverter.ToUInt16(bytes, 8);
        var header = System.Text.Encoding.ASCII.GetString(bytes, 10, headerLength);
        Assert.That(header, Does.StartWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 154, 32), }"));
        var values = new float[2 * 154 * 32];
        Buffer.BlockCopy(bytes, 10 + headerLength, values, 0, values.Length * sizeof(float));
        var row = 154 * 32;
        Assert.That(values, Has.Length.EqualTo(c.Tensor("negative_embeds").Length + c.Tensor("prompt_embeds").Length));
        Support.Tolerance.AssertClose(values.AsSpan(0, row), c.Tensor("negative_embeds"), "negative rows", abs: 1e-4, rel: 1e-4);
        Support.Tolerance.AssertClose(values.AsSpan(row, row), c.Tensor("prompt_embeds"), "prompt rows", abs: 1e-4, rel: 1e-4);
    }

    [TestCase("--prompt-syntax", "compel", "--prompt-syntax must be plain or a1111")]
    [TestCase("--prompt-max-windows", "2", "need --prompt-syntax a1111")]
    [TestCase("--embeddings-out", "x.bin", "--embeddings-out must name a .npy file")]
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
    public async Task AnUnparsablePromptExitsWithCodeTwoAndWritesNothing()
    {
        var png = Path.Combine(_folder, "x.png");
        var npy = Path.Combine(_folder, "x.npy");
        var (code, _, error) = await Run("--model", SdFixture.ModelFolder, "--prompt", "a (cat:1.2.3)", "--prompt-syntax", "a1111", "--steps", "2",
            "--out", png, "--embeddings-out", npy);
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(2));
            Assert.That(error, Does.Contain("1.2.3"));
            Assert.That(Directory.GetFileSystemEntries(_folder), Is.Empty);
        });
    }

    [Test]
    public async Task EmbeddingsOutNeedsAPromptAndItsOwnFile()
    {
        var npy = Path.Combine(_folder, "same.npy");
        var (code, _, error) = await Run("--model", SdFixture.ModelFolder, "--prompt", "a cat", "--latents-out", npy, "--embeddings-out", npy);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(error, Does.Contain("different files"));
        (code, _, error) = await Run("--embeddings-out", npy);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(error, Does.Contain("need --prompt"));
        Assert.That(Directory.GetFileSystemEntries(_folder), Is.Empty);
    }
}
