using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Numerics;

/// <summary>Static clipping and Imagen's dynamic thresholding on small worked examples, value by value.</summary>
[TestFixture]
public sealed class SampleThresholdingTests
{
    // |x| sorted: 0.5, 1, 2, 3, 4 (positions 0…4).
    private static readonly float[] Item = [0.5f, -3f, 2f, -1f, 4f];

    [TestCase(0.0, 0.5f)]
    [TestCase(0.5, 2f)]      // position 2 exactly
    [TestCase(0.6, 2.4f)]    // position 2.4: 2 + 0.4·(3 − 2)
    [TestCase(0.9, 3.6f)]    // position 3.6: 3 + 0.6·(4 − 3)
    [TestCase(0.995, 3.98f)]
    [TestCase(1.0, 4f)]
    public void QuantileOfTheAbsoluteValueInterpolatesBetweenOrderStatistics(double p, float expected)
    {
        var scratch = new float[Item.Length];
        Assert.That(SampleThresholding.Quantile(Item, p, scratch), Is.EqualTo(expected).Within(1e-6f));
    }

    [Test]
    public void DynamicClampsToTheQuantileAndDividesByIt()
    {
        var x = Item.ToArray();
        SampleThresholding.Dynamic(x, 1, 0.6, 10, new float[5]);
        // s = 2.4: clamp to [−2.4, 2.4], then divide by 2.4.
        Assert.That(x, Is.EqualTo(new[] { 0.5f / 2.4f, -1f, 2f / 2.4f, -1f / 2.4f, 1f }).Within(1e-7f));
    }

    [Test]
    public void TheThresholdIsAtLeastOneAndAtMostTheMaximum()
    {
        var small = new[] { 0.2f, -0.5f, 0.9f };
        SampleThresholding.Dynamic(small, 1, 1.0, 10, new float[3]);
        Assert.That(small, Is.EqualTo(new[] { 0.2f, -0.5f, 0.9f }), "s = max(0.9, 1) = 1: nothing changes");

        var large = Item.ToArray();
        SampleThresholding.Dynamic(large, 1, 0.9, 1.5, new float[5]);
        Assert.That(large, Is.EqualTo(new[] { 0.5f / 1.5f, -1f, 1f, -1f / 1.5f, 1f }).Within(1e-7f), "s = min(3.6, 1.5)");

        var below = Item.ToArray();
        SampleThresholding.Dynamic(below, 1, 0.9, 0.5, new float[5]);
        Assert.That(below, Is.EqualTo(new[] { 1f, -1f, 1f, -1f, 1f }), "a maximum below 1 wins over the minimum, as the reference's clamp");
    }

    [Test]
    public void EachItemOfTheBatchHasItsOwnThreshold()
    {
        float[] x = [.. Item, .. Item.Select(v => v / 2)];
        SampleThresholding.Dynamic(x, 2, 0.6, 10, new float[5]);
        // Item 1: s = 2.4. Item 2 (halved): quantile 1.2.
        Assert.That(x, Is.EqualTo(new[] { 0.5f / 2.4f, -1f, 2f / 2.4f, -1f / 2.4f, 1f, 0.25f / 1.2f, -1f, 1f / 1.2f, -0.5f / 1.2f, 1f }).Within(1e-7f));
    }

    [Test]
    public void ClipClampsBothSides()
    {
        var x = Item.ToArray();
        SampleThresholding.Clip(x, 1.5);
        Assert.That(x, Is.EqualTo(new[] { 0.5f, -1.5f, 1.5f, -1f, 1.5f }));
    }
}
