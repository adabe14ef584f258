using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Wrappers;

/// <summary>Each wrapper's settings at and around their limits: accepted, or a typed error naming the key.</summary>
[TestFixture]
public sealed class WrapperSettingsTests
{
    private static ISampler Ddim() => TestHost.Factory.Create("ddim", new SchedulerConfig());

    private static string Key(TestDelegate make) => Assert.Throws<SchedulerConfigException>(make)!.Key;

    [Test]
    public void TemperatureMustBePositiveAndFinite()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Key(() => new TemperatureWrapper(Ddim(), 0)), Is.EqualTo("temperature"));
            Assert.That(Key(() => new TemperatureWrapper(Ddim(), -0.5)), Is.EqualTo("temperature"));
            Assert.That(Key(() => new TemperatureWrapper(Ddim(), double.NaN)), Is.EqualTo("temperature"));
            Assert.That(Key(() => new TemperatureWrapper(Ddim(), double.PositiveInfinity)), Is.EqualTo("temperature"));
            Assert.That(new TemperatureWrapper(Ddim(), 1e-3).Temperature, Is.EqualTo(1e-3));
        });
    }

    [Test]
    public void NoiseInjectionMustBeFiniteAndNotNegative()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Key(() => new NoiseInjectionWrapper(Ddim(), -1e-3)), Is.EqualTo("noise_injection"));
            Assert.That(Key(() => new NoiseInjectionWrapper(Ddim(), double.NaN)), Is.EqualTo("noise_injection"));
            Assert.That(Key(() => new NoiseInjectionWrapper(Ddim(), double.PositiveInfinity)), Is.EqualTo("noise_injection"));
            Assert.That(new NoiseInjectionWrapper(Ddim(), 0).Strength, Is.Zero);
        });
    }

    [Test]
    public void ThresholdingRatioIsInZeroToOneAndTheMaximumIsPositiveAndFinite()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Key(() => new ThresholdingWrapper(Ddim(), ThresholdingMode.Dynamic, ratio: 0)), Is.EqualTo("dynamic_thresholding_ratio"));
            Assert.That(Key(() => new ThresholdingWrapper(Ddim(), ThresholdingMode.Dynamic, ratio: 1.0001)), Is.EqualTo("dynamic_thresholding_ratio"));
            Assert.That(Key(() => new ThresholdingWrapper(Ddim(), ThresholdingMode.Dynamic, ratio: double.NaN)), Is.EqualTo("dynamic_thresholding_ratio"));
            Assert.That(new ThresholdingWrapper(Ddim(), ThresholdingMode.Dynamic, ratio: 1).Ratio, Is.EqualTo(1));
            Assert.That(Key(() => new ThresholdingWrapper(Ddim(), ThresholdingMode.Dynamic, maxValue: 0)), Is.EqualTo("sample_max_value"));
            Assert.That(Key(() => new ThresholdingWrapper(Ddim(), ThresholdingMode.Dynamic, maxValue: double.PositiveInfinity)), Is.EqualTo("sample_max_value"));
            Assert.That(Key(() => new ThresholdingWrapper(Ddim(), ThresholdingMode.Static, maxValue: -1)), Is.EqualTo("clip_sample_range"));
            Assert.That(Key(() => new ThresholdingWrapper(Ddim(), ThresholdingMode.Static, maxValue: double.NaN)), Is.EqualTo("clip_sample_range"));
        });
    }

    [Test]
    public void KarrasNeedsAPositiveRhoAndAStepCountTheScheduleHas()
    {
        Assert.Multiple(() =>
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => new KarrasSigmasWrapper(Ddim(), 0));
            Assert.Throws<ArgumentOutOfRangeException>(() => new KarrasSigmasWrapper(Ddim(), -7));
            Assert.That(Key(() => new KarrasSigmasWrapper(Ddim()).SetTimesteps(0)), Is.EqualTo("num_inference_steps"));
            Assert.That(Key(() => new KarrasSigmasWrapper(Ddim()).SetTimesteps(1001)), Is.EqualTo("num_inference_steps"));
        });
        var full = TestHost.Factory.Create("euler", new SchedulerConfig());
        new KarrasSigmasWrapper(full).SetTimesteps(1000);
        Assert.That(full.Timesteps, Has.Count.EqualTo(1000), "every training step is a valid count");
    }

    [Test]
    public void ConfiguredSigmaRangeOverridesTheSamplersOwn()
    {
        const int n = 8;
        const double rho = 7, sigmaMin = 0.2, sigmaMax = 9.0;
        var euler = TestHost.Factory.Create("euler", new SchedulerConfig { SigmaMin = sigmaMin, SigmaMax = sigmaMax });
        new KarrasSigmasWrapper(euler, rho).SetTimesteps(n);
        var sigmas = ((ISigmaSampler)euler).Sigmas;
        for (var i = 0; i < n; i++)
        {
            var expected = Math.Pow(Math.Pow(sigmaMax, 1 / rho) + i / (n - 1.0) * (Math.Pow(sigmaMin, 1 / rho) - Math.Pow(sigmaMax, 1 / rho)), rho);
            Assert.That(sigmas[i], Is.EqualTo(expected).Within(2e-6 * expected), $"σ_{i}");
        }
    }

    // 15 steps: all distinct; 250 steps: rounding repeats timesteps at low noise, and repeats are dropped.
    [TestCase(15)]
    [TestCase(250)]
    public void ATimestepSamplerGetsTheWholeTimestepsOfTheKarrasSigmas(int n)
    {
        const double rho = 7;
        var own = Ddim();
        own.SetTimesteps(n);
        var ddim = Ddim();
        new KarrasSigmasWrapper(ddim, rho).SetTimesteps(n);

        // Independently, in double: log σ_t = ½·log((1 − ᾱ_t)/ᾱ_t) increases with t; invert it by linear interpolation.
        var logSigma = new double[1000];
        var product = 1.0;
        for (var i = 0; i < 1000; i++)
        {
            product *= 1 - (0.0001 + (0.02 - 0.0001) * i / 999.0);
            logSigma[i] = 0.5 * Math.Log((1 - product) / product);
        }
        double SigmaAt(double t) => Math.Exp(logSigma[(int)t]);
        double TimestepOf(double sigma)
        {
            var target = Math.Log(sigma);
            var i = Math.Clamp(Array.FindLastIndex(logSigma, v => v <= target), 0, 998);
            return Math.Clamp(i + (target - logSigma[i]) / (logSigma[i + 1] - logSigma[i]), 0, 999);
        }
        double sigmaMax = SigmaAt(own.Timesteps.Max()), sigmaMin = SigmaAt(own.Timesteps.Min());
        var expected = new List<double>();
        for (var i = 0; i < n; i++)
        {
            var sigma = Math.Pow(Math.Pow(sigmaMax, 1 / rho) + i / (n - 1.0) * (Math.Pow(sigmaMin, 1 / rho) - Math.Pow(sigmaMax, 1 / rho)), rho);
            var t = Math.Round(TimestepOf(sigma));
            if (expected.Count == 0 || t < expected[^1]) expected.Add(t);
        }
        Assert.That(ddim.Timesteps, Is.EqualTo(expected));
    }
}
