using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Wrappers;

/// <summary>
/// Classifier-free guidance value by value: recorded inputs through a denoiser known in closed form, the guided
/// output compared to the formulas evaluated independently in double (Ho &amp; Salimans 2022; the rescale of Lin et
/// al. 2023, §3.4: rescaled = φ·g·std(cond)/std(g) + (1−φ)·g, std per item), to float32 rounding.
/// </summary>
[TestFixture]
public sealed class GuidanceExactValueTests
{
    private const long Unconditional = -1;
    private static readonly TensorShape Shape = new(3, 2, 3, 3);

    private static float[] Sample(ulong seed = 11)
    {
        var x = new float[Shape.Length];
        new TorchGaussianNoise(seed).NextGaussian(x);
        return x;
    }

    /// <summary>g = u + w·(c − u), then the rescale, per item, all in double from the float32 model outputs.</summary>
    private static double[] ExpectedGuided(float[] x, double[] conditions, double w, double phi, double[]? unconditions = null)
    {
        var d = Shape.ItemLength;
        var expected = new double[x.Length];
        for (var b = 0; b < Shape.Batch; b++)
        {
            var cond = new double[d];
            var guided = new double[d];
            for (var i = 0; i < d; i++)
            {
                // The denoiser's outputs are float32; the combination is evaluated in double from them.
                double c = (float)AffineDenoiser.Exact(x[b * d + i], conditions[b], i);
                double u = (float)AffineDenoiser.Exact(x[b * d + i], unconditions?[b] ?? Unconditional, i);
                cond[i] = c;
                guided[i] = u + w * (c - u);
            }
            var ratio = Std(cond) / Std(guided);
            for (var i = 0; i < d; i++)
                expected[b * d + i] = phi * guided[i] * ratio + (1 - phi) * guided[i];
        }
        return expected;
    }

    private static double Std(double[] v)
    {
        var mean = v.Average();
        return Math.Sqrt(v.Sum(a => (a - mean) * (a - mean)) / v.Length);
    }

    /// <summary>Float32 results against double formulas: a few units of float32 rounding of the terms' size.</summary>
    private static void AssertClose(float[] actual, double[] expected, double w, string what)
    {
        // ~8 float32 units in the last place of the largest term (w·|c − u| can exceed the result).
        var tolerance = 1e-6 * (1 + w) * (expected.Max(Math.Abs) + 1);
        for (var i = 0; i < actual.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(tolerance), $"{what}: element {i}");
    }

    [TestCase(0.0, 0.0)]
    [TestCase(2.5, 0.0)]
    [TestCase(7.5, 0.0)]
    [TestCase(4.0, 0.7)]
    [TestCase(4.0, 1.0)]
    [TestCase(0.5, 0.3)]
    public void ClassLabelGuidanceIsTheFormulaInOneBatchAndInTwoCalls(double w, double phi)
    {
        var x = Sample();
        long[] labels = [0, 3, 1];
        double[] conditions = [0, 3, 1];
        var expected = ExpectedGuided(x, conditions, w, phi);

        foreach (var fixedBatch in new int?[] { null, 6, 3 })
        {
            var model = new AffineDenoiser(fixedBatch);
            var guidance = new ClassifierFreeGuidance(model, w, phi, unconditionalLabel: Unconditional);
            var output = new float[x.Length];
            guidance.Predict(new DenoiserInput(x, Shape, 700, labels), output);
            AssertClose(output, expected, w, $"w = {w}, φ = {phi}, fixed batch {fixedBatch?.ToString() ?? "none"}");

            var oneBatch = fixedBatch is null or >= 6;
            Assert.That(model.Batches, Is.EqualTo(oneBatch ? new[] { 6 } : new[] { 3, 3 }), "one batch of 2B when the model takes it, else two calls of B");
            Assert.That(guidance.Evaluations, Is.EqualTo(oneBatch ? 1 : 2));
            var seen = model.Conditions.SelectMany(c => c).ToArray();
            Assert.That(seen, Is.EqualTo(new double[] { 0, 3, 1, Unconditional, Unconditional, Unconditional }), "conditional items first, then the unconditional label");
        }
    }

    [Test]
    public void TheRescaleUsesTheConditionalSpreadNotTheUnconditionalOne()
    {
        // Rescaling toward std(uncond) or dropping the rescale gives clearly different values here.
        var x = Sample(5);
        long[] labels = [2, 2, 2];
        var guidance = new ClassifierFreeGuidance(new AffineDenoiser(), 6.0, 1.0, unconditionalLabel: Unconditional);
        var output = new float[x.Length];
        guidance.Predict(new DenoiserInput(x, Shape, 300, labels), output);
        var d = Shape.ItemLength;
        for (var b = 0; b < Shape.Batch; b++)
        {
            var cond = Enumerable.Range(0, d).Select(i => (double)(float)AffineDenoiser.Exact(x[b * d + i], 2, i)).ToArray();
            var item = output.Skip(b * d).Take(d).Select(v => (double)v).ToArray();
            Assert.That(Std(item), Is.EqualTo(Std(cond)).Within(1e-5 * Std(cond)), $"item {b}: φ = 1 gives the conditional spread");
        }
        var unrescaled = ExpectedGuided(x, [2, 2, 2], 6.0, 0.0);
        Assert.That(Std(unrescaled[..d]), Is.GreaterThan(1.5 * Std(output.Take(d).Select(v => (double)v).ToArray())), "the example needs a rescale that matters");
    }

    [TestCase(3.0, 0.0)]
    [TestCase(5.5, 0.6)]
    public void HiddenStateGuidancePairsEachItemWithTheUnconditionalEmbeddings(double w, double phi)
    {
        var x = Sample(7);
        const int perItem = 4;
        // The first value of an item's embeddings is its condition for the fake model.
        float[] hidden = [1, 9, 9, 9, 2, 8, 8, 8, 0.5f, 7, 7, 7];
        float[] empty = [Unconditional, 0, 0, 0];
        var expected = ExpectedGuided(x, [1, 2, 0.5], w, phi);
        foreach (var fixedBatch in new int?[] { null, 3 })
        {
            var model = new AffineDenoiser(fixedBatch);
            var output = new float[x.Length];
            new ClassifierFreeGuidance(model, w, phi, unconditionalHiddenStates: empty).Predict(new DenoiserInput(x, Shape, 100, encoderHiddenStates: hidden), output);
            AssertClose(output, expected, w, $"hidden states, fixed batch {fixedBatch?.ToString() ?? "none"}");
            Assert.That(model.Conditions.SelectMany(c => c), Is.EqualTo(new double[] { 1, 2, 0.5, Unconditional, Unconditional, Unconditional }));
        }
        foreach (var wrong in new[] { new float[perItem + 1], new float[2 * perItem], null })
        {
            var e = Assert.Throws<ArgumentException>(() => new ClassifierFreeGuidance(new AffineDenoiser(), w, phi, unconditionalHiddenStates: wrong)
                .Predict(new DenoiserInput(x, Shape, 100, encoderHiddenStates: hidden), new float[x.Length]), $"embeddings of length {wrong?.Length.ToString() ?? "null"} are refused");
            Assert.That(e!.Message, Does.Contain("unconditional embeddings of one item (4 values) or of the whole batch (12)"), "the refusal says which lengths it takes");
        }
    }

    [TestCase(3.0, 0.0)]
    [TestCase(2.0, 0.8)]
    public void WholeBatchUnconditionalEmbeddingsPairItemByItem(double w, double phi)
    {
        var x = Sample(9);
        float[] hidden = [1, 9, 9, 9, 2, 8, 8, 8, 0.5f, 7, 7, 7];
        // A different "negative prompt" per item: its first value is the condition the fake model sees.
        float[] negative = [0.25f, 0, 0, 0, 3, 0, 0, 0, 1.5f, 0, 0, 0];
        var expected = ExpectedGuided(x, [1, 2, 0.5], w, phi, [0.25, 3, 1.5]);
        foreach (var fixedBatch in new int?[] { null, 3 })
        {
            var model = new AffineDenoiser(fixedBatch);
            var output = new float[x.Length];
            new ClassifierFreeGuidance(model, w, phi, unconditionalHiddenStates: negative).Predict(new DenoiserInput(x, Shape, 100, encoderHiddenStates: hidden), output);
            AssertClose(output, expected, w, $"whole-batch embeddings, fixed batch {fixedBatch?.ToString() ?? "none"}");
            Assert.That(model.Conditions.SelectMany(c => c), Is.EqualTo(new double[] { 1, 2, 0.5, 0.25, 3, 1.5 }));
        }
    }

    /// <summary>Item b: every element is c·(b + 1) + sample, c = the class label; allocates nothing.</summary>
    private sealed class LabelDenoiser(bool constant) : IDenoiser
    {
        public int? FixedBatchSize => null;
        public void Dispose() { }
        public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default)
        {
            var d = input.Shape.ItemLength;
            for (var b = 0; b < input.Shape.Batch; b++)
                for (var i = 0; i < d; i++)
                    output[b * d + i] = input.ClassLabels[b] * (b % 3 + 1) + (constant ? 0 : input.Sample[b * d + i]);
        }
    }

    [Test]
    public void TheRescaleLeavesAnItemWithAConstantGuidedOutputAlone()
    {
        // cond and uncond constant per item: the guided item is constant too, std 0, and has nothing to rescale.
        var x = Sample();
        long[] labels = [2, 5, 1];
        var output = new float[x.Length];
        new ClassifierFreeGuidance(new LabelDenoiser(constant: true), 3.0, 0.7, unconditionalLabel: 0).Predict(new DenoiserInput(x, Shape, 50, labels), output);
        var d = Shape.ItemLength;
        for (var b = 0; b < Shape.Batch; b++)
            for (var i = 0; i < d; i++)
                Assert.That(output[b * d + i], Is.EqualTo(3.0f * labels[b] * (b % 3 + 1)), $"item {b}, element {i}: u + w·(c − u) with u = 0");
    }

    [Test]
    public void AWarmGuidedCallAllocatesNothing()
    {
        var x = Sample();
        long[] labels = [2, 5, 1];
        var output = new float[x.Length];
        var guidance = new ClassifierFreeGuidance(new LabelDenoiser(constant: false), 4.0, 0.5, unconditionalLabel: 0);
        var input = new DenoiserInput(x, Shape, 50, labels);
        guidance.Predict(input, output); // warm: buffers grow here
        var before = GC.GetAllocatedBytesForCurrentThread();
        guidance.Predict(input, output);
        guidance.Predict(input, output);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, "buffers are kept between calls");
    }

    [Test]
    public void RefusalsNameTheValueAndWhatIsAllowed()
    {
        Assert.Throws<ArgumentNullException>(() => new ClassifierFreeGuidance(null!, 2.0));
        var scale = Assert.Throws<SchedulerConfigException>(() => new ClassifierFreeGuidance(new AffineDenoiser(), -0.5))!;
        var rescale = Assert.Throws<SchedulerConfigException>(() => new ClassifierFreeGuidance(new AffineDenoiser(), 2.0, 1.25))!;
        Assert.Multiple(() =>
        {
            Assert.That((scale.Key, scale.Value), Is.EqualTo(("guidance_scale", "-0.5")));
            Assert.That(scale.Allowed, Does.Contain(">= 0"));
            Assert.That((rescale.Key, rescale.Value), Is.EqualTo(("guidance_rescale", "1.25")));
            Assert.That(rescale.Allowed, Does.Contain("[0, 1]"));
        });
    }

    [Test]
    public void ScaleOneIsOneConditionalCallAndTheRescaleLeavesAConstantOutputAlone()
    {
        var x = Sample();
        long[] labels = [1, 1, 1];
        var model = new AffineDenoiser();
        var output = new float[x.Length];
        new ClassifierFreeGuidance(model, 1.0, 0.5, unconditionalLabel: Unconditional).Predict(new DenoiserInput(x, Shape, 10, labels), output);
        Assert.That(model.Batches, Is.EqualTo(new[] { 3 }));
        var plain = new float[x.Length];
        new AffineDenoiser().Predict(new DenoiserInput(x, Shape, 10, labels), plain);
        Assert.That(output, Is.EqualTo(plain), "w = 1 is the conditional output, bytes and all");
    }
}
