using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Wrappers;

/// <summary>
/// Each model-output wrapper value by value: a recorded model output goes in, the output the wrapped sampler
/// receives is recorded, and compared to the wrapper's formula evaluated independently in double (to float32
/// rounding), at several non-trivial settings. The caller's buffer must stay untouched.
/// </summary>
[TestFixture]
public sealed class WrapperExactValueTests
{
    private const int Batch = 3, ItemLength = 37; // odd, not a multiple of any vector width

    /// <summary>Sits under the wrapper under test (over a real sampler, for its schedule and config) and keeps what reaches the step.</summary>
    private sealed class RecordingSampler(ISampler inner) : SamplerDecorator(inner)
    {
        public float[]? ModelOutput, Sample;
        public double Timestep;
        public int BatchSize;

        public override bool Step(in StepInput input, in StepOutput output, INoiseSource noise)
        {
            ModelOutput = input.ModelOutput.ToArray();
            Sample = input.Sample.ToArray();
            Timestep = input.Timestep;
            BatchSize = input.BatchSize;
            // Not stepped: the test steps at timesteps of its choosing, and only the input matters.
            input.Sample.CopyTo(output.PrevSample);
            return true;
        }
    }

    private static float[] Draw(ulong seed, double scale = 1)
    {
        var x = new float[Batch * ItemLength];
        new TorchGaussianNoise(seed).NextGaussian(x);
        for (var i = 0; i < x.Length; i++) x[i] = (float)(x[i] * scale);
        return x;
    }

    private static (RecordingSampler Recorder, ISampler Ddim) Ddim(PredictionType type = PredictionType.Epsilon)
    {
        var ddim = TestHost.Factory.Create("ddim", new SchedulerConfig { PredictionType = type, ClipSample = false });
        ddim.SetTimesteps(10);
        return (new RecordingSampler(ddim), ddim);
    }

    /// <summary>Steps <paramref name="wrapper"/> once at <paramref name="t"/> and returns what the sampler below it received.</summary>
    private static float[] StepThrough(ISampler wrapper, RecordingSampler recorder, float[] modelOutput, float[] sample, double t, INoiseSource noise)
    {
        var before = modelOutput.ToArray();
        var next = new float[sample.Length];
        wrapper.Step(new StepInput(modelOutput, t, sample, Batch), new StepOutput(next), noise);
        Assert.Multiple(() =>
        {
            Assert.That(modelOutput, Is.EqualTo(before), "the caller's model output is not modified");
            Assert.That(recorder.Sample, Is.EqualTo(sample), "the sample reaches the sampler unchanged");
            Assert.That(recorder.Timestep, Is.EqualTo(t));
            Assert.That(recorder.BatchSize, Is.EqualTo(Batch));
        });
        return recorder.ModelOutput!;
    }

    /// <summary>Float32 against double: <paramref name="ulps"/> float32 units of <paramref name="magnitude"/>.</summary>
    private static void AssertFloat32(float[] actual, Func<int, double> expected, Func<int, double> magnitude, string what, double ulps = 2)
    {
        for (var i = 0; i < actual.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected(i)).Within(ulps * 1.2e-7 * magnitude(i) + 1e-30), $"{what}: element {i}");
    }

    [TestCase(0.35)]
    [TestCase(1.7)]
    [TestCase(4.0)]
    public void TemperatureDividesTheModelOutputByT(double temperature)
    {
        var (recorder, _) = Ddim();
        var m = Draw(1, 2.0);
        var got = StepThrough(new TemperatureWrapper(recorder, temperature), recorder, m, Draw(2), 801, new RecordedNoise([]));
        AssertFloat32(got, i => m[i] / temperature, i => Math.Abs(m[i] / temperature), $"T = {temperature}");
    }

    [TestCase(0.05)]
    [TestCase(0.3)]
    [TestCase(1.7)]
    public void NoiseInjectionAddsStrengthTimesTheDrawnNoise(double strength)
    {
        var (recorder, _) = Ddim();
        var m = Draw(3);
        var z = Draw(4);
        // DDIM with η = 0 draws nothing, so the one recorded draw is the injection's, and a second draw would fail.
        var noise = new RecordedNoise([z]);
        var got = StepThrough(new NoiseInjectionWrapper(recorder, strength), recorder, m, Draw(5), 501, noise);
        Assert.That(noise.Remaining, Is.Zero, "one draw of the output's size per step");
        AssertFloat32(got, i => m[i] + strength * z[i], i => Math.Abs(m[i]) + Math.Abs(strength * z[i]), $"strength {strength}");
    }

    [Test]
    public void InactiveSettingsPassTheSameBufferThroughAndDrawNothing()
    {
        var m = Draw(6);
        foreach (var make in new Func<ISampler, ISampler>[] { s => new TemperatureWrapper(s, 1.0), s => new NoiseInjectionWrapper(s, 0.0) })
        {
            var (recorder, _) = Ddim();
            var got = StepThrough(make(recorder), recorder, m, Draw(7), 901, new RecordedNoise([]));
            Assert.That(got, Is.EqualTo(m));
        }
    }

    // ᾱ_t of the default linear schedule (β from 1e-4 to 0.02 over 1000 steps), in double.
    private static double AlphaBar(int t)
    {
        var product = 1.0;
        for (var i = 0; i <= t; i++) product *= 1 - (0.0001 + (0.02 - 0.0001) * i / 999.0);
        return product;
    }

    // The p-quantile of |v| with linear interpolation between order statistics (numpy's default), in double.
    private static double Quantile(IEnumerable<double> v, double p)
    {
        var sorted = v.Select(Math.Abs).Order().ToArray();
        var position = p * (sorted.Length - 1);
        var lower = (int)Math.Floor(position);
        var upper = Math.Min(lower + 1, sorted.Length - 1);
        return sorted[lower] + (position - lower) * (sorted[upper] - sorted[lower]);
    }

    /// <summary>x₀ limited the way the wrapper's settings say, item by item, in double.</summary>
    private static double[] Limit(double[] x0, ThresholdingMode mode, double ratio, double max)
    {
        var limited = new double[x0.Length];
        for (var b = 0; b < Batch; b++)
        {
            var item = x0.Skip(b * ItemLength).Take(ItemLength).ToArray();
            var s = mode == ThresholdingMode.Static ? 1.0 : Math.Min(Math.Max(Quantile(item, ratio), 1), max);
            var range = mode == ThresholdingMode.Static ? max : s;
            for (var i = 0; i < ItemLength; i++) limited[b * ItemLength + i] = Math.Clamp(item[i], -range, range) / s;
        }
        return limited;
    }

    // Settings where the quantile lands inside [1, max], where max binds, where 1 binds, and static clipping.
    [TestCase(PredictionType.Epsilon, ThresholdingMode.Dynamic, 0.7, 10.0, 640)]
    [TestCase(PredictionType.Epsilon, ThresholdingMode.Dynamic, 0.9, 1.6, 320)]
    [TestCase(PredictionType.Sample, ThresholdingMode.Dynamic, 0.6, 10.0, 900)]
    [TestCase(PredictionType.Sample, ThresholdingMode.Dynamic, 0.3, 10.0, 900)]
    [TestCase(PredictionType.VPrediction, ThresholdingMode.Dynamic, 0.8, 5.0, 450)]
    [TestCase(PredictionType.Epsilon, ThresholdingMode.Static, 0.995, 1.25, 640)]
    [TestCase(PredictionType.VPrediction, ThresholdingMode.Static, 0.995, 0.8, 200)]
    public void ThresholdingLimitsX0AndConvertsBackToTheSamplersKindOfOutput(PredictionType type, ThresholdingMode mode, double ratio, double max, int t)
    {
        var (recorder, _) = Ddim(type);
        var alphaBar = AlphaBar(t);
        double alpha = Math.Sqrt(alphaBar), sigma = Math.Sqrt(1 - alphaBar);
        // Choose x₀ of spread 2 (so thresholds above 1 occur) and ε, then the model output of the requested kind.
        var x0True = Draw(8, 2.0).Select(v => (double)v).ToArray();
        var eps = Draw(9).Select(v => (double)v).ToArray();
        var xt = x0True.Select((v, i) => (float)(alpha * v + sigma * eps[i])).ToArray();
        var m = type switch
        {
            PredictionType.Epsilon => eps.Select(v => (float)v).ToArray(),
            PredictionType.Sample => x0True.Select(v => (float)v).ToArray(),
            _ => eps.Select((v, i) => (float)(alpha * v - sigma * x0True[i])).ToArray(),
        };

        // The x₀ the model's float32 output implies, limited, and turned back into the same kind of output.
        var x0 = m.Select((v, i) => type switch
        {
            PredictionType.Epsilon => (xt[i] - sigma * v) / alpha,
            PredictionType.Sample => v,
            _ => alpha * xt[i] - sigma * v,
        }).ToArray();
        var limited = Limit(x0, mode, ratio, max);
        var expected = limited.Select((l, i) =>
        {
            var e = (xt[i] - alpha * l) / sigma;
            return type switch { PredictionType.Epsilon => e, PredictionType.Sample => l, _ => alpha * e - sigma * l };
        }).ToArray();
        Assert.That(limited, Is.Not.EqualTo(x0).Within(1e-3), "the example must have something to limit");

        var wrapper = new ThresholdingWrapper(recorder, mode, ratio, max);
        float[]? seenX0 = null;
        wrapper.PredictedOriginalLimited += (values, _) => seenX0 = values.ToArray();
        var got = StepThrough(wrapper, recorder, m, xt, t, new RecordedNoise([]));
        // ε from x₀ divides by σ: the error is float32 rounding of x_t and α·x₀, magnified by 1/σ.
        var magnitude = (Func<int, double>)(i => (Math.Abs(xt[i]) + Math.Abs(alpha * limited[i]) + Math.Abs(x0[i])) / Math.Min(sigma, 1) / Math.Min(alpha, 1) + Math.Abs(expected[i]));
        AssertFloat32(got, i => expected[i], magnitude, $"{type}, {mode}, p = {ratio}, max = {max}, t = {t}", ulps: 16);
        AssertFloat32(seenX0!, i => limited[i], i => 1 + Math.Abs(x0[i]) / Math.Min(alpha, 1), "the limited x₀", ulps: 16);
    }

    [TestCase(3.0)]
    [TestCase(7.0)]
    [TestCase(12.0)]
    public void KarrasGivesASigmaSamplerEquationFiveOverItsOwnRange(double rho)
    {
        const int n = 12;
        var own = (ISigmaSampler)TestHost.Factory.Create("euler", new SchedulerConfig());
        own.SetTimesteps(n);
        double sigmaMax = own.Sigmas[0], sigmaMin = own.Sigmas[n - 1];

        var euler = TestHost.Factory.Create("euler", new SchedulerConfig());
        new KarrasSigmasWrapper(euler, rho).SetTimesteps(n);
        var sigmas = ((ISigmaSampler)euler).Sigmas;
        for (var i = 0; i < n; i++)
        {
            var expected = Math.Pow(Math.Pow(sigmaMax, 1 / rho) + i / (n - 1.0) * (Math.Pow(sigmaMin, 1 / rho) - Math.Pow(sigmaMax, 1 / rho)), rho);
            Assert.That(sigmas[i], Is.EqualTo(expected).Within(2e-6 * expected), $"ρ = {rho}, σ_{i}");
        }
        Assert.That(sigmas[0], Is.EqualTo(sigmaMax).Within(2e-6 * sigmaMax));
        Assert.That(sigmas[n - 1], Is.EqualTo(sigmaMin).Within(2e-6 * sigmaMin));
    }
}
