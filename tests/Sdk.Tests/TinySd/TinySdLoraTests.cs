using Diffusion.Benchmarks.Quality;
using Diffusion.Sdk.Lora;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Snapshots;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.TinySd;

/// <summary>
/// The LoRA example trained for the embedded text-to-image model (models/tiny-sd-lora/bold.safetensors, kohya format,
/// tools/tiny-sd/train_lora.py): merged at weight 1 it makes "a handwritten N" bolder, at weight 0 it changes nothing.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class TinySdLoraTests
{
    private static readonly SnapshotStore Approved = SnapshotStore.BesideSource("../Snapshots/tiny-sd");

    // Fixed prompts and seeds, apart from the other tiny-sd tests' seeds: the ten digits, seeds 5 and 6, guidance 5.
    private static readonly ulong[] Seeds = [5, 6];

    [Test]
    public void EveryModuleOfTheAdapterMapsToAWeightOfTheExport()
    {
        // The export wraps the UNet (its node scopes read /unet/down_blocks.1/…), the adapter's keys do not: all 40 map.
        using var model = TinySdModel.Model.WithLoras([new LoraAdapter(TinySdModel.BoldLora)]);
        var report = model.Lora.Adapters.Single();
        Assert.Multiple(() =>
        {
            Assert.That(report.Format, Is.EqualTo("kohya"));
            Assert.That(report.Modules, Has.Count.EqualTo(40));
            Assert.That(report.NotApplied, Is.Empty, model.Lora.ToString());
            Assert.That(report.IgnoredKeys, Is.Empty);
            Assert.That(report.Applied.Select(m => m.Node), Has.All.StartWith("/unet/").And.All.EndWith("/MatMul"));
            Assert.That(report.Applied.Select(m => m.Scale), Has.All.EqualTo(0.5), "alpha 2 / rank 4");
        });
    }

    [Test]
    public void AtWeightOneTheStrokesAreBolder()
    {
        using var model = TinySdModel.Model.WithLoras([new LoraAdapter(TinySdModel.BoldLora, 1)]);
        var pipeline = new StableDiffusionPipeline(model, TestHost.Factory);
        var plain = Seeds.Select(seed => TinySdModel.Generate(Prompts, seed)).ToArray();
        var bold = Seeds.Select(seed => pipeline.Generate(Request(seed))).ToArray();
        var plainMass = plain.SelectMany(Masses).ToArray();
        var boldMass = bold.SelectMany(Masses).ToArray();
        var correct = CorrectlyRead(bold);
        TestContext.Out.WriteLine($"mean ink mass {plainMass.Average():F1} without the adapter, {boldMass.Average():F1} with it; " +
            $"bolder in {boldMass.Zip(plainMass).Count(p => p.First > p.Second)} of 20; read as prompted {correct} of 20");
        Assert.Multiple(() =>
        {
            Assert.That(boldMass.Average() - plainMass.Average(), Is.GreaterThanOrEqualTo(MinimumMeanRise),
                $"ink with the adapter [{Format(boldMass)}], without [{Format(plainMass)}]");
            Assert.That(boldMass.Zip(plainMass).Count(p => p.First > p.Second), Is.GreaterThanOrEqualTo(MinimumBolderPairs),
                $"with [{Format(boldMass)}], without [{Format(plainMass)}]");
            Assert.That(correct, Is.GreaterThanOrEqualTo(MinimumCorrect));
        });
        var grid = bold.SelectMany(r => r.Images.Select(v => 2f * v - 1f)).ToArray();
        Approved.MatchImage("lora-bold-1-handwritten-0-9-seeds-5-6-w5", ImageEncoder.EncodeGridPng(grid, bold[0].ImageShape with { Batch = 20 }, columns: 10), ImageTolerance.CpuKernels);
    }

    [Test]
    public void AtWeightZeroTheOutputIsTheModelsOwn()
    {
        // The loader leaves a weight whose every contribution has weight 0 as it is, so the sessions are the model's and
        // the pictures are the same bits; and the digits are still read as prompted.
        using var model = TinySdModel.Model.WithLoras([new LoraAdapter(TinySdModel.BoldLora, 0)]);
        Assert.That(model.Lora.OverriddenInitializers.Values.SelectMany(v => v), Is.Empty);
        var pipeline = new StableDiffusionPipeline(model, TestHost.Factory);
        var zero = Seeds.Select(seed => pipeline.Generate(Request(seed))).ToArray();
        var plain = Seeds.Select(seed => TinySdModel.Generate(Prompts, seed)).ToArray();
        Assert.Multiple(() =>
        {
            for (var i = 0; i < Seeds.Length; i++)
            {
                Assert.That(zero[i].Latents, Is.EqualTo(plain[i].Latents).AsCollection, $"latents, seed {Seeds[i]}");
                Assert.That(zero[i].Images, Is.EqualTo(plain[i].Images).AsCollection, $"images, seed {Seeds[i]}");
            }
            Assert.That(CorrectlyRead(zero), Is.GreaterThanOrEqualTo(MinimumCorrect));
        });
    }

    [Test]
    public async Task TheLoraDocsCommandDrawsABolderThree()
    {
        // docs/lora.md's worked example, as written there, against the same command without --lora.
        var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "tiny-sd-lora-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            string[] command = ["--model", TinySdModel.Folder, "--prompt", "a handwritten 3", "--guidance", "5", "--seed", "1"];
            var (code, output, error) = await Diffusion.Sdk.Tests.Robustness.Cli.Run([.. command, "--lora", TinySdModel.BoldLora, "--out", Path.Combine(folder, "bold-3.png")]);
            Assert.That(code, Is.Zero, error);
            Assert.That(output + error, Does.Contain("LoRA bold.safetensors (kohya, weight 1): 40 of 40 modules applied (unet 40)"));
            (code, _, error) = await Diffusion.Sdk.Tests.Robustness.Cli.Run([.. command, "--out", Path.Combine(folder, "plain-3.png")]);
            Assert.That(code, Is.Zero, error);
            var (bold, plain) = (PngDigit(Path.Combine(folder, "bold-3.png")), PngDigit(Path.Combine(folder, "plain-3.png")));
            Assert.That(DigitMeasures.InkMass(bold) - DigitMeasures.InkMass(plain), Is.GreaterThanOrEqualTo(15), "measured: 179.7 against 147.5");
            Assert.That(TinySdModel.Classifier.Classify(bold).Item1[0], Is.EqualTo(3));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// How much the mean ink mass of the 20 fixed pictures must rise at weight 1. Measured with the SDK: see
    /// docs/models.md (the tiny-sd-lora table and these 20 pictures); a rise of that size does not hinge on last bits.
    /// </summary>
    private const double MinimumMeanRise = 25;

    /// <summary>Of the 20 (digit, seed) pairs, how many must be bolder with the adapter.</summary>
    private const int MinimumBolderPairs = 17;

    /// <summary>Of the 20 pictures, how many the classifier must read as prompted (as the tiny-sd prompt tests ask).</summary>
    private const int MinimumCorrect = 16;

    private static IEnumerable<string> Prompts => TinySdModel.TenDigits(d => $"a handwritten {d}");

    private static StableDiffusionRequest Request(ulong seed) => new() { Prompts = [.. Prompts], Steps = 20, GuidanceScale = 5, Seed = seed };

    private static double[] Masses(StableDiffusionResult r) =>
        [.. Enumerable.Range(0, r.ImageShape.Batch).Select(i => DigitMeasures.InkMass(DigitMeasures.ToDigit(r.Images, r.ImageShape, i)))];

    private static int CorrectlyRead(StableDiffusionResult[] results)
    {
        var digits = results.SelectMany(r => Enumerable.Range(0, 10).SelectMany(d => DigitMeasures.ToDigit(r.Images, r.ImageShape, d))).ToArray();
        var (classes, _) = TinySdModel.Classifier.Classify(digits);
        return classes.Select((c, i) => c == i % 10).Count(ok => ok);
    }

    private static float[] PngDigit(string path)
    {
        var image = StbImageSharp.ImageResult.FromMemory(File.ReadAllBytes(path), StbImageSharp.ColorComponents.RedGreenBlue);
        var shape = new Diffusion.Sdk.Abstractions.TensorShape(1, 3, image.Height, image.Width);
        var pixels = new float[shape.Length];
        var plane = image.Width * image.Height;
        for (var p = 0; p < plane; p++)
            for (var c = 0; c < 3; c++) pixels[c * plane + p] = image.Data[p * 3 + c] / 255f;
        return DigitMeasures.ToDigit(pixels, shape, 0);
    }

    private static string Format(double[] masses) => string.Join(", ", masses.Select(m => m.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)));
}
