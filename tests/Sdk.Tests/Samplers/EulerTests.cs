using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// The Euler samplers beyond the reference vectors: configuration errors, exact answers on Gaussian data
/// (μ = 0.5, s = 0.2, whose ideal denoiser is known in closed form) beyond the conformance kit's (EulerConformance,
/// EulerAncestralConformance), schedules and the forward process.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class EulerTests
{
    private static readonly GaussianData Data = new(0.5, 0.2);

    private static ISigmaSampler Create(string name, SchedulerConfig? config = null) =>
        (ISigmaSampler)TestHost.Factory.Create(name, config ?? new SchedulerConfig());

    // ---- configuration errors --------------------------------------------------------------------------------

    [TestCase("interpolation_type", "cubic")]
    [TestCase("final_sigmas_type", "one")]
    [TestCase("timestep_type", "fractional")]
    public void AnInvalidStringKeyIsATypedErrorNamingTheKey(string key, string value)
    {
        var config = SchedulerConfigJson.Parse($$"""{ "{{key}}": "{{value}}" }""");
        var error = Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.Create(SamplerNames.Euler, config));
        Assert.Multiple(() =>
        {
            Assert.That(error!.Key, Is.EqualTo(key));
            Assert.That(error.Value, Does.Contain(value));
            Assert.That(error.Message, Does.Contain(key));
        });
    }

    [Test]
    public void AKarrasSigmaMinAboveTheScheduleIsATypedError()
    {
        // σ_max of the default (linear) schedule is 157.4.
        var sampler = Create(SamplerNames.Euler, new SchedulerConfig { UseKarrasSigmas = true, SigmaMin = 500 });
        var error = Assert.Throws<SchedulerConfigException>(() => sampler.SetTimesteps(10));
        Assert.That(error!.Key, Is.EqualTo("sigma_min"));
    }

    [Test]
    public void KarrasSigmasRejectAnExplicitTimestepList()
    {
        var sampler = Create(SamplerNames.Euler, new SchedulerConfig { UseKarrasSigmas = true });
        Assert.That(((SamplerBase)sampler).AcceptsExplicitTimesteps, Is.False);
        var error = Assert.Throws<SchedulerConfigException>(() => sampler.SetTimesteps([999.0, 500, 0]));
        Assert.That(error!.Key, Is.EqualTo("timesteps"));
    }

    [TestCase(SamplerNames.Euler)]
    [TestCase(SamplerNames.EulerAncestral)]
    public void AStepCountOutOfRangeIsATypedError(string name)
    {
        var error = Assert.Throws<SchedulerConfigException>(() => Create(name).SetTimesteps(0));
        Assert.That(error!.Key, Is.EqualTo("num_inference_steps"));
    }

    // ---- exact answers ---------------------------------------------------------------------------------------

    // Plain Euler's convergence (and Euler ancestral's moments) are the conformance kit's checks (EulerConformance).
    [Test]
    public void EulerWithKarrasSigmasConvergesToTheExactEndpoint()
    {
        var errors = new[] { 10, 20, 50 }.Select(steps => ClosedFormSampling.EndpointError(
            ClosedFormSampling.Sample(Create(SamplerNames.Euler, new SchedulerConfig { UseKarrasSigmas = true }), steps, Data, 2_000, seed: 7), Data)).ToArray();
        TestContext.Out.WriteLine($"Euler (Karras σ) max endpoint error at 10/20/50 steps: {string.Join(" / ", errors.Select(e => e.ToString("E2")))}");
        // A first-order method: the error roughly halves when the steps double (measured 0.25 / 0.13 / 0.053).
        Assert.Multiple(() =>
        {
            Assert.That(errors[1], Is.LessThan(0.7 * errors[0]), "10 → 20 steps");
            Assert.That(errors[2], Is.LessThan(0.5 * errors[1]), "20 → 50 steps");
        });
    }

    [TestCase(SamplerNames.Euler, PredictionType.Sample)]
    [TestCase(SamplerNames.Euler, PredictionType.VPrediction)]
    [TestCase(SamplerNames.EulerAncestral, PredictionType.Sample)]
    [TestCase(SamplerNames.EulerAncestral, PredictionType.VPrediction)]
    public void EveryPredictionTypeGivesTheSameRun(string name, PredictionType type)
    {
        // The exact denoiser is one function whatever it is asked to output, and the seeded noise is the same, so the
        // runs agree with the ε run up to float rounding.
        var epsilon = ClosedFormSampling.Sample(Create(name), 20, Data, 2_000, seed: 7).Samples;
        var other = ClosedFormSampling.Sample(Create(name, new SchedulerConfig { PredictionType = type }), 20, Data, 2_000, seed: 7).Samples;
        Assert.That(other.Zip(epsilon, (a, b) => Math.Abs(a - b)).Max(), Is.LessThan(1e-4));
    }

    // ---- schedules -------------------------------------------------------------------------------------------

    [Test]
    public void KarrasSigmasSpanTheConfiguredRange()
    {
        var sampler = Create(SamplerNames.Euler, new SchedulerConfig { UseKarrasSigmas = true, SigmaMin = 0.1, SigmaMax = 10 });
        sampler.SetTimesteps(12);
        Assert.Multiple(() =>
        {
            Assert.That(sampler.Sigmas, Has.Count.EqualTo(13));
            Assert.That(sampler.Sigmas[0], Is.EqualTo(10).Within(1e-6));
            Assert.That(sampler.Sigmas[11], Is.EqualTo(0.1).Within(1e-7));
            Assert.That(sampler.Sigmas[12], Is.Zero);
            Assert.That(sampler.Timesteps, Is.Ordered.Descending);
            Assert.That(sampler.Timesteps.Any(t => t != Math.Floor(t)), "Karras timesteps are fractional");
        });
    }

    [TestCase("zero", 0.0)]
    [TestCase("sigma_min", 0.010001329)]
    public void AnExplicitListTakesSigmaAtEachTimestep(string finalSigmas, double expectedFinal)
    {
        var sampler = Create(SamplerNames.Euler, new SchedulerConfig { FinalSigmasType = finalSigmas });
        sampler.SetTimesteps(20);
        var sigmaAt500 = sampler.Schedule.Sigmas[500];
        var sigmaAt250Half = (sampler.Schedule.Sigmas[250] + sampler.Schedule.Sigmas[251]) / 2;

        sampler.SetTimesteps([999.0, 500, 250.5, 0]);
        Assert.Multiple(() =>
        {
            Assert.That(sampler.Timesteps, Is.EqualTo(new[] { 999.0, 500, 250.5, 0 }));
            // The σ table is float32 ᾱ, as the reference's; NoiseSchedule is double, so compare to 1e-5.
            Assert.That(sampler.Sigmas[1], Is.EqualTo(sigmaAt500).Within(1e-3).Percent);
            Assert.That(sampler.Sigmas[2], Is.EqualTo(sigmaAt250Half).Within(1e-3).Percent);
            Assert.That(sampler.Sigmas[4], Is.EqualTo(expectedFinal).Within(1e-3).Percent);
        });

        // The list runs to the end, and with a final σ of 0 the last step lands on the denoiser's x̂₀.
        var x = new float[] { 3f, -40f, 150f };
        float[] input = new float[3], output = new float[3], x0 = new float[3];
        for (var k = 0; k < 4; k++)
        {
            var t = sampler.Timesteps[k];
            sampler.ScaleModelInput(x, t, input);
            Data.Predict(PredictionType.Epsilon, input, ClosedFormSampling.AlphaBarAt(sampler, k, t), output);
            sampler.Step(new StepInput(output, t, x), new StepOutput(x, x0), new TorchGaussianNoise(1));
        }
        Assert.That(x.All(float.IsFinite));
        if (expectedFinal == 0) Assert.That(x, Is.EqualTo(x0).Within(1e-6));
    }

    [Test]
    public void ContinuousTimestepsAreAQuarterOfLogSigmaForVPrediction()
    {
        var sampler = Create(SamplerNames.Euler, new SchedulerConfig { TimestepType = "continuous", PredictionType = PredictionType.VPrediction });
        sampler.SetTimesteps(8);
        for (var i = 0; i < 8; i++)
            Assert.That(sampler.Timesteps[i], Is.EqualTo(0.25 * Math.Log(sampler.Sigmas[i])).Within(1e-6), $"step {i}");

        // Other prediction types keep discrete timesteps, as the reference does.
        var epsilon = Create(SamplerNames.Euler, new SchedulerConfig { TimestepType = "continuous" });
        epsilon.SetTimesteps(8);
        Assert.That(epsilon.Timesteps[0], Is.EqualTo(999));
    }

    [TestCase(SamplerNames.Euler)]
    [TestCase(SamplerNames.EulerAncestral)]
    public void AddNoiseUsesSigmaOfEachTimestep(string name)
    {
        var sampler = Create(name);
        float[] original = [0.5f, -1f, 2f, 0.25f], noise = [1f, 2f, -1f, 0.5f], noisy = new float[4];

        // Before any schedule, and for a timestep the schedule does not list: σ_t of the training schedule.
        sampler.AddNoise(original, noise, [500.0, 10.0], noisy);
        double s500 = sampler.Schedule.Sigmas[500], s10 = sampler.Schedule.Sigmas[10];
        Assert.That(noisy, Is.EqualTo(new[] { 0.5 + s500, -1 + 2 * s500, 2 - s10, 0.25 + 0.5 * s10 }).Within(1e-3).Percent);

        // A listed (fractional) timestep: the schedule's σ.
        sampler.SetTimesteps(7);
        sampler.AddNoise(original, noise, [sampler.Timesteps[1], sampler.Timesteps[1]], noisy);
        Assert.That(noisy[0], Is.EqualTo(0.5 + sampler.Sigmas[1]).Within(1e-5).Percent);
    }
}
