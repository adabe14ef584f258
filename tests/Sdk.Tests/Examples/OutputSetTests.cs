using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Robustness;
using Diffusion.Sdk.Tests.StableDiffusion;
using Generate;
using StbImageSharp;

namespace Diffusion.Sdk.Tests.Examples;

/// <summary>
/// A run's outputs are written all or nothing on every path (digits and Stable Diffusion alike), a cancelled Stable
/// Diffusion run exits 130, and a pixel has the same value in a single PNG and in a grid.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class OutputSetTests
{
    private string _dir = "";

    [SetUp]
    public void CreateFolder() => _dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "outputs-" + Guid.NewGuid().ToString("N"))).FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    private static int Quietly(Func<int> write)
    {
        var (oldOut, oldError) = (Console.Out, Console.Error);
        Console.SetOut(TextWriter.Null);
        Console.SetError(TextWriter.Null);
        try
        {
            return write();
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldError);
        }
    }

    [Test]
    public void AFileThatCannotBeWritten_LeavesEveryOtherTargetAsItWas()
    {
        var npy = Path.Combine(_dir, "latents.npy");
        File.WriteAllText(npy, "old latents");
        Directory.CreateDirectory(Path.Combine(_dir, "set"));
        File.WriteAllText(Path.Combine(_dir, "set", "000.png"), "old image");
        File.WriteAllText(Path.Combine(_dir, "blocker"), "a file where a folder is needed");
        var before = Cli.Snapshot(_dir);

        var code = Quietly(() => new OutputSet()
            .File(npy, () => [1, 2, 3])
            .Images(Path.Combine(_dir, "set"), 2, i => [(byte)i])
            .File(Path.Combine(_dir, "blocker", "grid.png"), () => [4, 5, 6])
            .Write(CancellationToken.None));

        Assert.That(code, Is.EqualTo(1));
        Assert.That(Cli.Snapshot(_dir), Is.EqualTo(before), "the older files are unchanged and no temporary file is left");
    }

    [Test]
    public void ACancelledWrite_WritesNothing()
    {
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        var code = Quietly(() => new OutputSet().File(Path.Combine(_dir, "a.npy"), () => [1]).Images(Path.Combine(_dir, "set"), 1, _ => [1]).Write(cancel.Token));
        Assert.That(code, Is.EqualTo(130));
        Assert.That(Directory.EnumerateFileSystemEntries(_dir), Is.Empty);
    }

    [Test]
    public void EverythingIsWrittenWhenNothingFails()
    {
        var code = Quietly(() => new OutputSet().File(Path.Combine(_dir, "a.npy"), () => [1]).Images(Path.Combine(_dir, "set"), 2, i => [(byte)(7 + i)]).Write(CancellationToken.None));
        Assert.That(code, Is.Zero);
        Assert.Multiple(() =>
        {
            Assert.That(File.ReadAllBytes(Path.Combine(_dir, "a.npy")), Is.EqualTo(new byte[] { 1 }));
            Assert.That(File.ReadAllBytes(Path.Combine(_dir, "set", "001.png")), Is.EqualTo(new byte[] { 8 }));
        });
    }

    [Test]
    public void StableDiffusionGridAndSingleImages_HaveTheSamePixels()
    {
        // Values on the rounding ties of ×255 (k + 0.5)/255, where half-to-even and half-away-from-zero differ.
        var shape = new TensorShape(2, 3, 4, 4);
        var images = Enumerable.Range(0, shape.Length).Select(i => (2 * (i % 128) + 1) / 510f).ToArray();
        var grid = ImageResult.FromMemory(StableDiffusionImages.EncodeGridPng(images, shape, columns: 2), ColorComponents.RedGreenBlue);
        for (var b = 0; b < 2; b++)
        {
            var single = ImageResult.FromMemory(StableDiffusionImages.EncodePng(images, shape, b), ColorComponents.RedGreenBlue).Data;
            for (var y = 0; y < 4; y++)
                for (var x = 0; x < 4; x++)
                    for (var c = 0; c < 3; c++)
                        Assert.That(grid.Data[((2 + y) * grid.Width + 2 + b * 6 + x) * 3 + c], Is.EqualTo(single[(y * 4 + x) * 3 + c]), $"item {b} ({x}, {y}) channel {c}");
        }
    }

    [Test]
    public async Task ACancelledStableDiffusionRun_Exits130AndWritesNothing()
    {
        var before = Cli.Snapshot(_dir);
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        var settings = new GenerateSettings
        {
            ModelPath = SdFixture.ModelFolder, Prompts = ["a cat"], Width = 64, Height = 64, Steps = 2, Out = Path.Combine(_dir, "cat.png"),
        };
        int code;
        var (oldOut, oldError) = (Console.Out, Console.Error);
        var error = new StringWriter();
        Console.SetOut(TextWriter.Null);
        Console.SetError(error);
        try
        {
            code = await StableDiffusionRunner.RunAsync(settings, cancel.Token);
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldError);
        }
        Assert.That(code, Is.EqualTo(130), error.ToString());
        Assert.That(Cli.Snapshot(_dir), Is.EqualTo(before));
    }
}
