using Diffusion.Benchmarks.Quality;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Snapshots;
using Diffusion.Sdk.StableDiffusion;

namespace Diffusion.Sdk.Tests.TinySd;

/// <summary>
/// The trained text-to-image model through the SDK's Stable Diffusion pipeline: the digit classifier reads the prompted
/// digit, a negative prompt moves what it names, and the pictures and latents stay as approved (snapshot kit).
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class TinySdPromptTests
{
    private static readonly SnapshotStore Approved = SnapshotStore.BesideSource("../Snapshots/tiny-sd");

    [Test]
    public void TheModelLoadsAsAnOptimumExportWithItsMeasuredScalingFactor()
    {
        var model = TinySdModel.Model;
        Assert.Multiple(() =>
        {
            Assert.That(model.Layout, Is.EqualTo(StableDiffusionLayout.Optimum));
            Assert.That(model.VaeScaleFactor, Is.EqualTo(4));
            Assert.That(model.DefaultSampleSize, Is.EqualTo(8));
            Assert.That(model.ScalingFactor, Is.Not.EqualTo(StableDiffusionModel.LegacyScalingFactor).And.GreaterThan(0));
            Assert.That(model.SchedulerConfig?.ClassName, Is.EqualTo("DDIMScheduler"));
        });
    }

    [Test]
    public void TheClassifierReadsThePromptedDigit()
    {
        // "a handwritten 0" … "a handwritten 9" as one batch, seeds 0 and 1, guidance 5: the fixed set of the snapshot.
        var results = new[] { 0UL, 1UL }.Select(seed => TinySdModel.Generate(TinySdModel.TenDigits(d => $"a handwritten {d}"), seed)).ToArray();
        var shape = results[0].ImageShape;
        var digits = results.SelectMany(r => Enumerable.Range(0, 10).SelectMany(d => DigitMeasures.ToDigit(r.Images, r.ImageShape, d))).ToArray();
        var (classes, _) = TinySdModel.Classifier.Classify(digits);
        var correct = classes.Select((c, i) => c == i % 10).Count(ok => ok);
        Assert.That(correct, Is.GreaterThanOrEqualTo(MinimumCorrect), $"classifier read [{string.Join(", ", classes)}] for 0…9, 0…9");

        var grid = results.SelectMany(r => r.Images.Select(v => 2f * v - 1f)).ToArray();
        var latents = results.SelectMany(r => r.Latents).ToArray();
        Assert.Multiple(() =>
        {
            Approved.MatchImage("handwritten-0-9-seeds-0-1-w5", ImageEncoder.EncodeGridPng(grid, shape with { Batch = 20 }, columns: 10), ImageTolerance.CpuKernels);
            Approved.MatchTensor("handwritten-0-9-seeds-0-1-w5-latents", latents, TensorTolerance.CpuKernels);
        });
    }

    [Test]
    public void ANegativePromptBoldThinsTheStrokes()
    {
        // The same ten prompts and seed, with and without "bold" in the negative prompt: less ink on average, and on most.
        var prompts = TinySdModel.TenDigits(d => $"a handwritten {d}");
        var plain = Masses(TinySdModel.Generate(prompts, 3));
        var negative = Masses(TinySdModel.Generate(prompts, 3, negativePrompt: "bold"));
        Assert.Multiple(() =>
        {
            Assert.That(negative.Average(), Is.LessThan(plain.Average()), $"ink with \"bold\" negative [{Format(negative)}], without [{Format(plain)}]");
            Assert.That(negative.Zip(plain).Count(p => p.First < p.Second), Is.GreaterThanOrEqualTo(7), $"with [{Format(negative)}], without [{Format(plain)}]");
        });
    }

    [Test]
    public void BoldAndThinPromptsMoveTheInkMass()
    {
        var bold = Masses(TinySdModel.Generate(TinySdModel.TenDigits(d => $"a bold handwritten {d}"), 4));
        var thin = Masses(TinySdModel.Generate(TinySdModel.TenDigits(d => $"a thin handwritten {d}"), 4));
        Assert.That(bold.Zip(thin).Count(p => p.First > p.Second), Is.GreaterThanOrEqualTo(8), $"bold [{Format(bold)}], thin [{Format(thin)}]");
    }

    /// <summary>Of the 20 fixed pictures, how many the classifier must read as prompted (the model's measured accuracy is in docs/models.md).</summary>
    private const int MinimumCorrect = 16;

    private static double[] Masses(StableDiffusionResult r) =>
        [.. Enumerable.Range(0, r.ImageShape.Batch).Select(i => DigitMeasures.InkMass(DigitMeasures.ToDigit(r.Images, r.ImageShape, i)))];

    private static string Format(double[] masses) => string.Join(", ", masses.Select(m => m.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)));
}
