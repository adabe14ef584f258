using System.Globalization;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// The protected helpers of <see cref="SamplerBase"/> and <see cref="SigmaTableSamplerBase"/> that a derived sampler
/// relies on (the training index of a timestep and its refusal text, the ᾱ before the first step, the message format
/// of timesteps, which σ end the final σ is asked for), the first step at position 0 after a begin index, and the ᾱ
/// <see cref="NoiseLevels.AlphaBarAt"/> gives a σ sampler at listed and unlisted timesteps. Probe samplers expose the
/// helpers; expected values are worked out here.
/// </summary>
[TestFixture]
public sealed class SamplerBaseHelperTests
{
    private sealed class Probe(SchedulerConfig config) : SamplerBase("probe", config)
    {
        protected override double[] CreateTimesteps(int numInferenceSteps) =>
            Enumerable.Range(0, numInferenceSteps).Select(i => 999.0 - i * (999 / numInferenceSteps)).ToArray();

        protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
        {
            input.Sample.CopyTo(output.PrevSample);
            return false;
        }

        public int Index(double timestep) => TrainingIndex(timestep);
        public double AlphaBarOrFinal(double timestep, double beforeFirst) => AlphaCumprodOrFinal(timestep, beforeFirst);
        public double After(int stepIndex) => NextTimestep(stepIndex);
        public static string Text(double timestep) => Format(timestep);

        public void Noisy3(INoiseSource noise, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> destination) =>
            ApplyWithNoise(new AddScaledNoise(), noise, 1, a, b, destination);

        public void Noisy3To2(INoiseSource noise, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> destination, Span<float> second) =>
            ApplyWithNoise(new AddScaledNoiseAndDifference(), noise, 2, a, b, destination, second);

        public void Noisy4(INoiseSource noise, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> destination) =>
            ApplyWithNoise(new AddScaledNoiseMinus(), noise, 3, a, b, c, destination);
    }

    // z·b + a; (z·b + a, a − z); z·b + a − c (z the noise).
    private readonly struct AddScaledNoise : ElementWise.IOperator3
    {
        public T Invoke<T>(T a, T b, T z) where T : struct, IFloatVector<T> => z * b + a;
    }

    private readonly struct AddScaledNoiseAndDifference : ElementWise.IOperator3To2
    {
        public T Invoke<T>(T a, T b, T z,
            out T second) where T : struct, IFloatVector<T>
        {
            second = a - z;
            return z * b + a;
        }
    }

    private readonly struct AddScaledNoiseMinus : ElementWise.IOperator4
    {
        public T Invoke<T>(T a, T b, T c,
            T z) where T : struct, IFloatVector<T> => z * b + a - c;
    }

    /// <summary>Another noise source with torch's values (so the buffered path can be compared with the chunked one).</summary>
    private sealed class Relay(ulong seed) : INoiseSource
    {
        private readonly TorchGaussianNoise _inner = new(seed);
        public void NextGaussian(Span<float> destination) => _inner.NextGaussian(destination);
    }

    /// <summary>A σ-table sampler that records which kind of σ list each final σ is asked for.</summary>
    private sealed class TableProbe(SchedulerConfig config) : SigmaTableSamplerBase("table-probe", config)
    {
        public List<(double Last, bool Spaced)> FinalAsks { get; } = [];

        protected override double FinalSigma(double lastSigma, bool spaced)
        {
            FinalAsks.Add((lastSigma, spaced));
            return 0;
        }

        protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
        {
            input.Sample.CopyTo(output.PrevSample);
            return false;
        }
    }

    private static float[] Values(int n, float scale) => Enumerable.Range(0, n).Select(i => MathF.Cos(i + 1) * scale).ToArray();

    [Test]
    public void TrainingIndexTakesOnlyWholeTimestepsOfTheScheduleAndSaysWhich()
    {
        var probe = new Probe(new SchedulerConfig());
        Assert.That((probe.Index(0), probe.Index(999), probe.Index(500)), Is.EqualTo((0, 999, 500)));
        foreach (var (bad, text) in new[] { (10.5, "10.5"), (-1.0, "-1"), (1000.0, "1000"), (3.123456, "3.1235"), (double.NaN, "NaN") })
        {
            var e = Assert.Throws<SamplerStateException>(() => probe.Index(bad))!;
            Assert.That(e.Message, Is.EqualTo($"Timestep {text} is not an integer in [0, 999], which the 'probe' sampler needs."));
        }
        Assert.That(Probe.Text(12.000049), Is.EqualTo("12"), "four decimals at most");
        Assert.That(Probe.Text(-0.25), Is.EqualTo("-0.25"));
    }

    [Test]
    public void AlphaBarBeforeTheFirstStepAndTheNextTimestep()
    {
        var probe = new Probe(new SchedulerConfig());
        Assert.That(probe.AlphaBarOrFinal(-1, 0.75), Is.EqualTo(0.75), "a negative timestep is the step after the last");
        Assert.That(probe.AlphaBarOrFinal(0, 0.75), Is.EqualTo(probe.Schedule.AlphasCumprod[0]));
        Assert.That(probe.AlphaBarOrFinal(0, 0.75), Is.EqualTo(1 - 0.0001).Within(1e-7));
        Assert.Throws<SamplerStateException>(() => probe.AlphaBarOrFinal(0.5, 0.75));
        probe.SetTimesteps(3);
        Assert.That(probe.Timesteps, Is.EqualTo(new double[] { 999, 666, 333 }));
        Assert.That((probe.After(0), probe.After(1), probe.After(2)), Is.EqualTo((666.0, 333.0, -1.0)));
    }

    [Test]
    public void AFirstStepMayStartAtPositionZeroAfterABeginIndexMovedTheStart()
    {
        var probe = new Probe(new SchedulerConfig());
        probe.SetTimesteps(4);
        probe.SetBeginIndex(2);
        var x = Values(4, 1);
        var prev = new float[4];
        Assert.DoesNotThrow(() => probe.Step(new StepInput(x, probe.Timesteps[0], x, 1), new StepOutput(prev), new TorchGaussianNoise(1)));
        Assert.DoesNotThrow(() => probe.Step(new StepInput(x, probe.Timesteps[1], x, 1), new StepOutput(prev), new TorchGaussianNoise(1)),
            "the run goes on from position 0");
    }

    [Test]
    public void TheFinalSigmaIsAskedForWithWhetherTheListCameFromTheSigmaSpacing()
    {
        var karras = new TableProbe(new SchedulerConfig { UseKarrasSigmas = true });
        karras.SetTimesteps(4);
        Assert.That(karras.FinalAsks.Select(a => a.Spaced), Is.EqualTo(new[] { true }));
        Assert.That(karras.FinalAsks[0].Last, Is.EqualTo(karras.Sigmas[3]));

        var plain = new TableProbe(new SchedulerConfig());
        plain.SetTimesteps(4);
        plain.SetTimesteps([999.0, 500, 10]);
        plain.SetSigmas([10, 5, 2]);
        Assert.That(plain.FinalAsks, Is.EqualTo(new[] { (plain.FinalAsks[0].Last, false), (plain.FinalAsks[1].Last, false), (2.0, false) }));
        Assert.That(plain.Sigmas, Is.EqualTo(new double[] { 10, 5, 2, 0 }));
    }

    [Test]
    public void SigmaTableAddNoiseUsesTheListedSigmaElseTheTrainingOneAndRefusesTimestepsOutsideTheSchedule()
    {
        var probe = new TableProbe(new SchedulerConfig());
        probe.SetSigmas([10, 5, 2]);
        var x = Values(6, 1);
        var eps = Values(6, 0.5f);
        var destination = new float[6];
        probe.AddNoise(x, eps, [probe.Timesteps[0], probe.Timesteps[1]], destination);
        foreach (var (k, sigma) in new[] { (0, 10.0), (1, 10.0), (2, 10.0), (3, 5.0), (4, 5.0), (5, 5.0) })
        {
            var alpha = 1 / Math.Sqrt(1 + sigma * sigma);
            Assert.That(destination[k], Is.EqualTo(alpha * x[k] + sigma * alpha * eps[k]).Within(1e-6), $"value {k}: σ = {sigma}");
        }

        // 100 is not listed: σ_t of the training table, x = √ᾱ·x₀ + √(1−ᾱ)·ε.
        var alphaBar = probe.Schedule.AlphasCumprod[100];
        probe.AddNoise(x, eps, [100], destination.AsSpan(0, 6));
        for (var k = 0; k < 6; k++)
            Assert.That(destination[k], Is.EqualTo(Math.Sqrt(alphaBar) * x[k] + Math.Sqrt(1 - alphaBar) * eps[k]).Within(1e-5), $"value {k} at t = 100");

        foreach (var bad in new[] { 1000, -1, 999.5 })
        {
            var e = Assert.Throws<SamplerStateException>(() => probe.AddNoise(x, eps, [bad, 10], destination))!;
            Assert.That(e.Message, Is.EqualTo($"Timestep {bad.ToString(CultureInfo.InvariantCulture)} is outside [0, 999]."));
        }
        Assert.DoesNotThrow(() => probe.AddNoise(x, eps, [999, 0], destination), "both ends of the training range");
    }

    [Test]
    public void AlphaBarOfASigmaSamplerComesFromItsSigmaAtListedTimestepsAndFromTheScheduleElsewhere()
    {
        var euler = (ISigmaSampler)TestHost.Factory.Create("euler", new SchedulerConfig());
        euler.SetSigmas([10, 5, 2]);
        Assert.That(NoiseLevels.AlphaBarAt(euler, euler.Timesteps[0]), Is.EqualTo(1 / 101.0));
        Assert.That(NoiseLevels.AlphaBarAt(euler, euler.Timesteps[2]), Is.EqualTo(1 / 5.0));
        Assert.That(NoiseLevels.AlphaBarAt(euler, 300), Is.EqualTo(euler.Schedule.AlphasCumprod[300]), "an unlisted timestep: the training schedule");
        Assert.That(NoiseLevels.AlphaBarAt(euler, 2000), Is.EqualTo(euler.Schedule.AlphasCumprod[999]), "clamped to the schedule");
    }

    // Below the chunked minimum, exactly at it, a length of several chunks and a partial block, and through a
    // source that is not torch's: the values of one draw of the whole length, and the generator left where that
    // draw leaves it.
    [TestCase(15, false)]
    [TestCase(16, false)]
    [TestCase(10_007, false)]
    [TestCase(10_007, true)]
    public void ApplyWithNoiseUsesOneDrawOfTheWholeLength(int n, bool relay)
    {
        const ulong seed = 1234;
        var z = new float[n];
        var reference = new TorchGaussianNoise(seed);
        var probe = new Probe(new SchedulerConfig());
        var a = Values(n, 1);
        var b = Values(n, 0.5f).Select(v => v + 2).ToArray();
        var c = Values(n, 0.25f);
        var destination = new float[n];
        var second = new float[n];
        var after = new float[5];
        var expectedAfter = new float[5];

        INoiseSource noise = relay ? new Relay(seed) : new TorchGaussianNoise(seed);
        reference.NextGaussian(z);
        probe.Noisy3(noise, a, b, destination);
        Assert.That(destination, Is.EqualTo(Enumerable.Range(0, n).Select(k => z[k] * b[k] + a[k]).ToArray()), "three inputs");

        reference.NextGaussian(z);
        probe.Noisy3To2(noise, a, b, destination, second);
        Assert.That(destination, Is.EqualTo(Enumerable.Range(0, n).Select(k => z[k] * b[k] + a[k]).ToArray()), "two results: the first");
        Assert.That(second, Is.EqualTo(Enumerable.Range(0, n).Select(k => a[k] - z[k]).ToArray()), "two results: the second");

        reference.NextGaussian(z);
        probe.Noisy4(noise, a, b, c, destination);
        Assert.That(destination, Is.EqualTo(Enumerable.Range(0, n).Select(k => z[k] * b[k] + a[k] - c[k]).ToArray()), "four inputs");

        reference.NextGaussian(expectedAfter);
        noise.NextGaussian(after);
        Assert.That(after, Is.EqualTo(expectedAfter), "the generator is where one draw per call leaves it");
        Assert.Throws<ArgumentNullException>(() => probe.Noisy3(null!, a, b, destination));
        Assert.Throws<ArgumentNullException>(() => probe.Noisy3To2(null!, a, b, destination, second));
        Assert.Throws<ArgumentNullException>(() => probe.Noisy4(null!, a, b, c, destination));
    }
}
