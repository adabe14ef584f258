using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// Heun, KDPM2, KDPM2 ancestral and LMS beyond the reference vectors and the conformance kit: the reference's own
/// test loop, the layout of two-evaluation schedules, LMS of order 1 as Euler, and configuration errors.
/// </summary>
[TestFixture]
public sealed class KDiffusionTests
{
    private static SigmaSamplerBase Create(string name, SchedulerConfig? config = null) =>
        (SigmaSamplerBase)TestHost.Factory.Create(name, config ?? new SchedulerConfig());

    /// <summary>
    /// The reference's own Heun test (<c>test_full_loop_with_noise</c>): T = 1100, linear betas, 10 steps, the ramp
    /// sample and noise of its test suite, noised at the 9th timestep and stepped from there with the model
    /// x·t/(t+1), the loop feeding the scaled input back as the sample. Its result: Σ|x| = 75074.8906 (within 1e-2).
    /// </summary>
    [Test]
    public void HeunReproducesTheReferencesFullLoopWithNoise()
    {
        var heun = Create(SamplerNames.Heun, new SchedulerConfig { NumTrainTimesteps = 1100, BetaStart = 0.0001, BetaEnd = 0.02, BetaSchedule = BetaSchedule.Linear });
        heun.SetTimesteps(10);
        const int batch = 4, channels = 3, size = 8, n = batch * channels * size * size;
        // torch.arange(n).reshape(C, H, W, N) / n, permuted to N, C, H, W (and flipped for the noise).
        var sample = new float[n];
        var noise = new float[n];
        for (var b = 0; b < batch; b++)
            for (var c = 0; c < channels; c++)
                for (var p = 0; p < size * size; p++)
                {
                    var source = (c * size * size + p) * batch + b;
                    sample[(b * channels + c) * size * size + p] = (float)(source / (double)n) * (float)heun.InitNoiseSigma;
                    noise[(b * channels + c) * size * size + p] = (float)((n - 1 - source) / (double)n);
                }
        var timesteps = heun.Timesteps.Skip(8 * heun.Order).ToArray();
        heun.AddNoise(sample, noise, [timesteps[0]], sample);
        var output = new float[n];
        foreach (var t in timesteps)
        {
            heun.ScaleModelInput(sample, t, sample);
            for (var i = 0; i < n; i++) output[i] = sample[i] * (float)t / ((float)t + 1);
            heun.Step(new StepInput(output, t, sample, batch), new StepOutput(sample), new TorchGaussianNoise(0));
        }
        Assert.That(sample.Sum(v => (double)Math.Abs(v)), Is.EqualTo(75074.8906).Within(1e-2));
    }

    [Test]
    public void HeunListsEachLaterTimestepTwiceWithItsSigma()
    {
        var heun = Create(SamplerNames.Heun);
        heun.SetTimesteps(4);
        var euler = (ISigmaSampler)TestHost.Factory.Create(SamplerNames.Euler, new SchedulerConfig { BetaStart = 0.00085, BetaEnd = 0.012 });
        euler.SetTimesteps(4);
        heun = Create(SamplerNames.Heun, new SchedulerConfig { BetaStart = 0.00085, BetaEnd = 0.012 });
        heun.SetTimesteps(4);
        var (t, s) = (euler.Timesteps, euler.Sigmas);
        Assert.Multiple(() =>
        {
            Assert.That(heun.Timesteps, Is.EqualTo(new[] { t[0], t[1], t[1], t[2], t[2], t[3], t[3] }));
            Assert.That(heun.Sigmas, Is.EqualTo(new[] { s[0], s[1], s[1], s[2], s[2], s[3], s[3], 0 }));
            Assert.That(heun.IntervalSigmas, Is.EqualTo(s));
            Assert.That(heun.InitNoiseSigma, Is.EqualTo(euler.InitNoiseSigma));
        });
    }

    [TestCase(SamplerNames.Kdpm2)]
    [TestCase(SamplerNames.Kdpm2Ancestral)]
    public void Kdpm2EvaluatesEachIntervalButTheLastAtAMidpointInLogSigma(string name)
    {
        var sampler = Create(name);
        sampler.SetTimesteps(5);
        var s = sampler.IntervalSigmas;
        Assert.Multiple(() =>
        {
            Assert.That(sampler.Timesteps, Has.Count.EqualTo(9));
            Assert.That(sampler.Sigmas, Has.Count.EqualTo(10));
            for (var i = 0; i < 4; i++)
            {
                // KDPM2: √(σ_i·σ_{i+1}); ancestral: √(σ_i·σ_down) with σ_down = σ_{i+1}²/σ_i exactly (the reference's
                // float32 formula for σ_down cancels, hence 0.05 %).
                var end = name == SamplerNames.Kdpm2 ? s[i + 1] : s[i + 1] * s[i + 1] / s[i];
                Assert.That(sampler.Sigmas[2 * i], Is.EqualTo(s[i]), $"interval {i} starts at σ_i");
                Assert.That(sampler.Sigmas[2 * i + 1], Is.EqualTo(Math.Sqrt(s[i] * end)).Within(name == SamplerNames.Kdpm2 ? 1e-4 : 0.05).Percent, $"interval {i}: geometric midpoint");
                Assert.That(sampler.Timesteps[2 * i + 1], Is.LessThan(sampler.Timesteps[2 * i]).And.GreaterThanOrEqualTo(sampler.Timesteps[2 * i + 2]), "its timestep lies within the interval");
            }
            Assert.That(sampler.Sigmas[^2], Is.EqualTo(s[^2]), "the last interval is a single evaluation");
        });
    }

    [Test]
    public void ARunThatStartsOnASecondEvaluationLeavesTheSampleWhereItIs()
    {
        var sampler = Create(SamplerNames.Kdpm2);
        sampler.SetTimesteps(5);
        var x = new float[] { 1, 2, 3, 4 };
        var next = new float[4];
        sampler.Step(new StepInput(new float[] { 0.5f, 0.5f, 0.5f, 0.5f }, sampler.Timesteps[3], x), new StepOutput(next), new TorchGaussianNoise(0));
        Assert.That(next, Is.EqualTo(x), "no first evaluation to complete: the sample stays at σ_{i+1}, where AddNoise puts it");
    }

    [TestCase(SamplerNames.Euler)]
    [TestCase(SamplerNames.Heun)]
    [TestCase(SamplerNames.Kdpm2)]
    [TestCase(SamplerNames.Lms)]
    public void TwoSigmaSpacingsAtOnceAreATypedError(string name)
    {
        var error = Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.Create(name, new SchedulerConfig { UseKarrasSigmas = true, UseBetaSigmas = true }))!;
        Assert.That(error.Key, Is.EqualTo("use_karras_sigmas"));
    }

    [TestCase(SamplerNames.Heun, "use_exponential_sigmas")]
    [TestCase(SamplerNames.Lms, "use_beta_sigmas")]
    public void ExponentialAndBetaSpacingsSpanTheSpacedTimestepsSigmas(string name, string key)
    {
        var config = SchedulerConfigJson.Parse($$"""{ "{{key}}": true, "timestep_spacing": "leading", "steps_offset": 1, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012 }""");
        var spaced = Create(name, config);
        spaced.SetTimesteps(10);
        var plain = Create(name, SchedulerConfigJson.Parse("""{ "timestep_spacing": "leading", "steps_offset": 1, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012 }"""));
        plain.SetTimesteps(10);
        Assert.Multiple(() =>
        {
            Assert.That(spaced.IntervalSigmas[0], Is.EqualTo(plain.IntervalSigmas[0]).Within(1e-5).Percent, "largest σ: the first spaced timestep's");
            Assert.That(spaced.IntervalSigmas[^2], Is.EqualTo(plain.IntervalSigmas[^2]).Within(1e-5).Percent, "smallest σ: the last spaced timestep's");
            Assert.That(spaced.AcceptsExplicitTimesteps, Is.False);
        });
    }

    [Test]
    public void LmsOfOrderOneIsEulerToTheBit()
    {
        var lms = TestHost.Factory.Create(SamplerNames.Lms, new SchedulerConfig { SolverOrder = 1 });
        var euler = TestHost.Factory.Create(SamplerNames.Euler);
        var data = new GaussianData(0.5, 0.2);
        Assert.That(ClosedFormSampling.Sample(lms, 25, data, 512, seed: 5).Samples, Is.EqualTo(ClosedFormSampling.Sample(euler, 25, data, 512, seed: 5).Samples));
    }

    [Test]
    public void LmsErrorFallsWithItsOrder()
    {
        var data = new GaussianData(0.5, 0.2);
        var errors = new[] { 1, 2, 3, 4 }.Select(order => ClosedFormSampling.EndpointError(
            ClosedFormSampling.Sample(TestHost.Factory.Create(SamplerNames.Lms, new SchedulerConfig { SolverOrder = order }), 20, data, 2_000, seed: 7), data)).ToArray();
        TestContext.Out.WriteLine($"LMS endpoint error at 20 steps, orders 1–4: {string.Join(" / ", errors.Select(e => e.ToString("E2", System.Globalization.CultureInfo.InvariantCulture)))}");
        Assert.That(errors, Is.Ordered.Descending);
    }
}
