using Diffusion.Benchmarks.Quality;
using Diffusion.Sdk.Abstractions;
using StbImageSharp;

namespace Diffusion.Sdk.Tests.TinySd;

/// <summary>The README's text-to-image command, as written there, draws the prompted digit (the classifier reads a 7).</summary>
[TestFixture]
[NonParallelizable]
public sealed class TinySdReadmeCommandTests
{
    [Test]
    public async Task TheReadmeCommandDrawsABoldSevenLeaningRight()
    {
        var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "tiny-sd-readme-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var png = Path.Combine(folder, "seven.png");
            var (code, _, error) = await Diffusion.Sdk.Tests.Robustness.Cli.Run(
                "--model", TinySdModel.Folder, "--prompt", "a bold handwritten 7 leaning right", "--guidance", "5", "--out", png);
            Assert.That(code, Is.Zero, error);
            var image = ImageResult.FromMemory(File.ReadAllBytes(png), ColorComponents.RedGreenBlue);
            var shape = new TensorShape(1, 3, image.Height, image.Width);
            var pixels = new float[shape.Length];
            var plane = image.Width * image.Height;
            for (var p = 0; p < plane; p++)
                for (var c = 0; c < 3; c++) pixels[c * plane + p] = image.Data[p * 3 + c] / 255f;
            var digit = DigitMeasures.ToDigit(pixels, shape, 0);
            var (classes, _) = TinySdModel.Classifier.Classify(digit);
            Assert.Multiple(() =>
            {
                Assert.That((image.Width, image.Height), Is.EqualTo((32, 32)));
                Assert.That(classes[0], Is.EqualTo(7));
                Assert.That(DigitMeasures.Slant(digit), Is.GreaterThan(0), "leaning right");
            });
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
