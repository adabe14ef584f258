using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Wrappers;

[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class GuidanceTests
{
    private static readonly TensorShape Shape = new(64, 1, 2, 2);

    /// <summary>Samples the mixture with DDIM (20 steps, deterministic) through <paramref name="denoiser"/>, all items labelled <paramref name="label"/>.</summary>
    private static float[] Sample(Func<ISampler, IDenoiser> denoiser, long label, ulong seed = 17)
    {
        var sampler = TestHost.Factory.Create("ddim", new SchedulerConfig { ClipSample = false, TimestepSpacing = TimestepSpacing.Trailing });
        sampler.SetTimesteps(20);
        var model = denoiser(sampler);
        var noise = new TorchGaussianNoise(seed);
        var x = new float[Shape.Length];
        noise.NextGaussian(x);
        var (output, next) = (new float[x.Length], new float[x.Length]);
        var labels = Enumerable.Repeat(label, Shape.Batch).ToArray();
        foreach (var t in sampler.Timesteps)
        {
            model.Predict(new DenoiserInput(x, Shape, t, labels), output);
            sampler.Step(new StepInput(output, t, x, Shape.Batch), new StepOutput(next), noise);
            (x, next) = (next, x);
        }
        return x;
    }

    private static MixtureDenoiser Mixture(ISampler s, int? fixedBatch = null) => new(t => NoiseLevels.AlphaBarAt(s, t), fixedBatch);

    // Mean over items of the item mean: +0.5 for component 1, −0.5 for component 0.
    private static double Margin(float[] x) => x.Average(v => (double)v);

    [Test]
    public void ScaleOneIsTheConditionalModelExactlyAndCostsOneEvaluation()
    {
        ClassifierFreeGuidance? guidance = null;
        var guided = Sample(s => guidance = new ClassifierFreeGuidance(Mixture(s), 1.0, unconditionalLabel: MixtureDenoiser.Unconditional), label: 1);
        var plain = Sample(s => Mixture(s), label: 1);
        Assert.That(guided, Is.EqualTo(plain), "w = 1 gives the same bytes as unguided sampling");
        Assert.That(guidance!.Evaluations, Is.EqualTo(20));
    }

    [Test]
    public void LargerScalesMoveSamplesTowardTheConditionalComponent()
    {
        var margins = new[] { 0.0, 1.0, 3.0 }.Select(w =>
            Margin(Sample(s => new ClassifierFreeGuidance(Mixture(s), w, unconditionalLabel: MixtureDenoiser.Unconditional), label: 0))).ToArray();
        TestContext.Out.WriteLine($"mean of samples conditioned on component 0 (μ = −0.5) at w = 0, 1, 3: {string.Join(", ", margins.Select(m => m.ToString("F4")))}");
        Assert.Multiple(() =>
        {
            Assert.That(margins[0], Is.GreaterThan(-0.2), "w = 0 is the unconditional mixture, centred near 0");
            Assert.That(margins[1], Is.EqualTo(-0.5).Within(0.02), "w = 1 samples component 0");
            Assert.That(margins[2], Is.LessThan(margins[1] - 0.02), "w = 3 pushes past it, away from the unconditional model");
        });
    }

    [Test]
    public void OneBatchOfTwoBAndTwoCallsOfBGiveTheSameResult()
    {
        ClassifierFreeGuidance? batched = null, split = null;
        var a = Sample(s => batched = new ClassifierFreeGuidance(Mixture(s), 3.0, unconditionalLabel: MixtureDenoiser.Unconditional), label: 1);
        var b = Sample(s => split = new ClassifierFreeGuidance(Mixture(s, fixedBatch: Shape.Batch), 3.0, unconditionalLabel: MixtureDenoiser.Unconditional), label: 1);
        Assert.Multiple(() =>
        {
            Assert.That(b, Is.EqualTo(a));
            Assert.That(batched!.Evaluations, Is.EqualTo(20), "a dynamic batch takes cond and uncond in one call");
            Assert.That(split!.Evaluations, Is.EqualTo(40), "a fixed batch of B needs two calls");
        });
    }

    [Test]
    public void RescaleOneRestoresTheConditionalStandardDeviation()
    {
        var shape = new TensorShape(3, 1, 4, 4);
        var x = new float[shape.Length];
        new TorchGaussianNoise(3).NextGaussian(x);
        var model = new MixtureDenoiser(_ => 0.3);
        var (cond, guided) = (new float[x.Length], new float[x.Length]);
        long[] labels = [0, 1, 1];
        model.Predict(new DenoiserInput(x, shape, 500, labels), cond);
        new ClassifierFreeGuidance(model, 5.0, rescale: 1.0, unconditionalLabel: MixtureDenoiser.Unconditional).Predict(new DenoiserInput(x, shape, 500, labels), guided);
        for (var b = 0; b < 3; b++)
            Assert.That(Std(guided.AsSpan(b * 16, 16)), Is.EqualTo(Std(cond.AsSpan(b * 16, 16))).Within(1e-4), $"item {b}");
    }

    [TestCase(-1.0, 0.0, "guidance_scale")]
    [TestCase(double.NaN, 0.0, "guidance_scale")]
    [TestCase(2.0, 1.5, "guidance_rescale")]
    public void InvalidSettingsAreTypedErrors(double scale, double rescale, string key) =>
        Assert.That(Assert.Throws<SchedulerConfigException>(() => new ClassifierFreeGuidance(new MixtureDenoiser(_ => 0.5), scale, rescale))!.Key, Is.EqualTo(key));

    private static double Std(ReadOnlySpan<float> x)
    {
        var values = x.ToArray();
        var mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Length);
    }
}
