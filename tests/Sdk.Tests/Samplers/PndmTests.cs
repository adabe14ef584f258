using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// PNDM (Liu et al. 2022): its timestep list with the Runge–Kutta warm-up, typed errors for what it cannot do, and its
/// exact answers on Gaussian data, where the ideal denoiser is known in closed form and the deterministic sampler must
/// converge to the exact probability-flow endpoint as steps grow. The contract (order errors, reset, in-place and
/// allocation-free steps) is the conformance kit's (PndmConformance, PndmSkipPrkConformance).
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class PndmTests
{
    private static readonly GaussianData Data = new(0.5, 0.2);
    private static readonly INoiseSource NoNoise = new RecordedNoise([]);

    // set_alpha_to_one: the last step lands on ᾱ = 1, the endpoint the closed form gives (ᾱ_0 would stop at σ ≈ 0.01).
    private static ISampler Create(bool? skipPrk = null, PredictionType prediction = PredictionType.Epsilon, bool? alphaToOne = true,
        TimestepSpacing? spacing = null, int stepsOffset = 0) =>
        TestHost.Factory.Create(SamplerNames.Pndm, new SchedulerConfig
        {
            SkipPrkSteps = skipPrk, PredictionType = prediction, SetAlphaToOne = alphaToOne, TimestepSpacing = spacing, StepsOffset = stepsOffset,
        });

    private static double[] EndpointErrors(Func<ISampler> create, params int[] steps) =>
        steps.Select(n => ClosedFormSampling.EndpointError(ClosedFormSampling.Sample(create(), n, Data, 2_000, seed: 7), Data)).ToArray();

    [Test]
    public void TimestepsListEveryEvaluationOfTheWarmUp()
    {
        var prk = Create();
        prk.SetTimesteps(10);
        var skip = Create(skipPrk: true);
        skip.SetTimesteps(10);
        Assert.Multiple(() =>
        {
            // Three Runge–Kutta steps 900 → 800 → 700 → 600 at t, t − h, t − h, t − δ (h = 50), then PLMS from 600.
            Assert.That(prk.Timesteps, Is.EqualTo(new double[] { 900, 850, 850, 800, 800, 750, 750, 700, 700, 650, 650, 600, 600, 500, 400, 300, 200, 100, 0 }));
            // Euler 900 → 800, Heun correction at 800, then multistep.
            Assert.That(skip.Timesteps, Is.EqualTo(new double[] { 900, 800, 800, 700, 600, 500, 400, 300, 200, 100, 0 }));
            Assert.That(prk.Order, Is.EqualTo(1), "the reference's order");
            Assert.That(prk.InitNoiseSigma, Is.EqualTo(1));
        });
    }

    [Test]
    public void FewerThanFourStepsNeedSkipPrkSteps()
    {
        var error = Assert.Throws<SchedulerConfigException>(() => Create().SetTimesteps(3))!;
        Assert.That(error.Key, Is.EqualTo("num_inference_steps"));
        Assert.That(error.Allowed, Does.Contain("skip_prk_steps"));
        Assert.DoesNotThrow(() => Create().SetTimesteps(4));
        foreach (var n in new[] { 1, 2, 3 })
        {
            var run = ClosedFormSampling.Sample(Create(skipPrk: true), n, Data, 16, seed: 3);
            Assert.That(run.Samples, Has.All.Matches<float>(float.IsFinite), $"{n} steps");
        }
    }

    [Test]
    public void StepCountOutsideTheTrainingRangeIsAConfigError() =>
        Assert.That(Assert.Throws<SchedulerConfigException>(() => Create(skipPrk: true).SetTimesteps(0))!.Key, Is.EqualTo("num_inference_steps"));

    [Test]
    public void StepsOffsetPastTheLastTrainingTimestepIsAConfigError()
    {
        var error = Assert.Throws<SchedulerConfigException>(() => Create(stepsOffset: 100).SetTimesteps(10))!;
        Assert.That(error.Key, Is.EqualTo("steps_offset"));
        Assert.DoesNotThrow(() => Create(stepsOffset: 99).SetTimesteps(10));
    }

    [Test]
    public void ExplicitTimestepListsAreRefused()
    {
        var sampler = Create(skipPrk: true);
        var error = Assert.Throws<SchedulerConfigException>(() => sampler.SetTimesteps(new double[] { 999, 500, 0 }))!;
        Assert.That(error.Key, Is.EqualTo("timesteps"));
        Assert.That(error.Message, Does.Contain("pndm"));
    }

    [Test]
    public void RunMustStartAtTheFirstTimestepUnlessTheWarmUpIsSkipped()
    {
        var x = new float[4];
        var eps = new float[4];

        var prk = Create();
        prk.SetTimesteps(10);
        Assert.Throws<SamplerStateException>(() => prk.Step(new StepInput(eps, 500, x), new StepOutput(new float[4]), NoNoise));

        var skip = Create(skipPrk: true);
        skip.SetTimesteps(10);
        Assert.Throws<SamplerStateException>(() => skip.Step(new StepInput(eps, 800, x), new StepOutput(new float[4]), NoNoise), "the duplicated timestep");

        // Image-to-image: start at 500 (position 5 of the list) and finish the run; the warm-up restarts there.
        skip.SetTimesteps(10);
        for (var k = 5; k < skip.Timesteps.Count; k++)
            skip.Step(new StepInput(eps, skip.Timesteps[k], x), new StepOutput(x), NoNoise);
        Assert.That(x, Has.All.Matches<float>(float.IsFinite));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void ConvergesToTheExactEndpoint(bool skipPrk)
    {
        var errors = EndpointErrors(() => Create(skipPrk), 10, 20, 50);
        var ddim = EndpointErrors(() => TestHost.Factory.Create(SamplerNames.Ddim, new SchedulerConfig { ClipSample = false }), 50);
        TestContext.Out.WriteLine($"PNDM (skip_prk_steps {skipPrk}) max endpoint error at 10/20/50 steps: {string.Join(" / ", errors.Select(e => e.ToString("E2")))}; DDIM at 50: {ddim[0]:E2}");
        Assert.Multiple(() =>
        {
            Assert.That(errors[1], Is.LessThan(errors[0]), "10 → 20 steps");
            Assert.That(errors[2], Is.LessThan(errors[1]), "20 → 50 steps");
            Assert.That(errors[2], Is.LessThan(1e-2), "at 50 steps");
            Assert.That(errors[2], Is.LessThan(ddim[0] / 5), "a fourth-order multistep beats DDIM at 50 steps");
        });
    }

    [TestCase(PredictionType.Sample, false)]
    [TestCase(PredictionType.Sample, true)]
    [TestCase(PredictionType.VPrediction, false)]
    [TestCase(PredictionType.VPrediction, true)]
    public void EveryPredictionTypeConverges(PredictionType prediction, bool skipPrk)
    {
        var errors = EndpointErrors(() => Create(skipPrk, prediction), 10, 20, 50);
        TestContext.Out.WriteLine($"PNDM {prediction} (skip_prk_steps {skipPrk}) max endpoint error at 10/20/50 steps: {string.Join(" / ", errors.Select(e => e.ToString("E2")))}");
        Assert.Multiple(() =>
        {
            Assert.That(errors[1], Is.LessThan(errors[0]), "10 → 20 steps");
            Assert.That(errors[2], Is.LessThan(errors[1]), "20 → 50 steps");
            // v is converted after the multistep combination (as the reference does), which costs accuracy.
            Assert.That(errors[2], Is.LessThan(prediction == PredictionType.VPrediction ? 5e-2 : 1e-2), "at 50 steps");
        });

        if (prediction == PredictionType.Sample)
        {
            // x₀ is turned into ε exactly where the network produced it, so the run is the ε run up to rounding.
            var sample = ClosedFormSampling.Sample(Create(skipPrk, prediction), 20, Data, 256, seed: 11).Samples;
            var epsilon = ClosedFormSampling.Sample(Create(skipPrk), 20, Data, 256, seed: 11).Samples;
            Tolerance.AssertClose(sample, epsilon.Select(v => (double)v).ToArray(), "x₀ run vs ε run", abs: 1e-4, rel: 1e-4);
        }
    }
}
