using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.DpmSolver;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// SA-Solver beyond the reference vectors: typed errors, the DPM-Solver aliases, τ's role (the only way noise enters),
/// exact answers on Gaussian data (μ = 0.5, s = 0.2) for the ODE it solves at τ = 0, and the σ table's end.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class SaSolverTests
{
    private static readonly GaussianData Data = new(0.5, 0.2);

    private static SaSolverSampler Create(SchedulerConfig config) => (SaSolverSampler)TestHost.Factory.Create(SamplerNames.SaSolver, config);

    public static IEnumerable<TestCaseData> InvalidConfigurations()
    {
        yield return new TestCaseData(new SchedulerConfig { AlgorithmType = "bh2" }, "algorithm_type").SetName("Unknown algorithm_type");
        yield return new TestCaseData(new SchedulerConfig { PredictorOrder = 5 }, "predictor_order").SetName("predictor_order 5");
        yield return new TestCaseData(new SchedulerConfig { CorrectorOrder = 0 }, "corrector_order").SetName("corrector_order 0");
        yield return new TestCaseData(new SchedulerConfig { PredictionType = PredictionType.FlowPrediction }, "prediction_type").SetName("flow_prediction without flow σ");
        yield return new TestCaseData(new SchedulerConfig { UseFlowSigmas = true, PredictionType = PredictionType.FlowPrediction, AlgorithmType = "noise_prediction" }, "algorithm_type")
            .SetName("flow_prediction with noise_prediction");
        yield return new TestCaseData(new SchedulerConfig { UseFlowSigmas = true, UseKarrasSigmas = true }, "use_flow_sigmas").SetName("Flow σ with Karras σ");
        yield return new TestCaseData(new SchedulerConfig { Thresholding = true, AlgorithmType = "noise_prediction" }, "thresholding").SetName("Thresholding with noise_prediction");
        yield return new TestCaseData(new SchedulerConfig { UseKarrasSigmas = true, UseBetaSigmas = true }, "use_karras_sigmas").SetName("Two σ spacings at once");
    }

    [TestCaseSource(nameof(InvalidConfigurations))]
    public void UndefinedConfigurationIsATypedErrorNamingItsKey(SchedulerConfig config, string key)
    {
        var e = Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.Create(SamplerNames.SaSolver, config));
        Assert.That(e!.Key, Is.EqualTo(key), e.Message);
    }

    [Test]
    public void TheReferenceClassNameFindsIt()
    {
        var sampler = TestHost.Factory.Create(new SchedulerConfig { ClassName = "SASolverScheduler" });
        Assert.That(sampler, Is.InstanceOf<SaSolverSampler>());
    }

    [TestCase("dpmsolver++", "data_prediction")]
    [TestCase("sde-dpmsolver++", "data_prediction")]
    [TestCase("dpmsolver", "noise_prediction")]
    public void DpmSolverAlgorithmNamesReadAsTheirPredictionKind(string alias, string algorithm)
    {
        var aliased = ClosedFormSampling.Sample(Create(new SchedulerConfig { AlgorithmType = alias }), 12, Data, 64, seed: 3);
        var plain = ClosedFormSampling.Sample(Create(new SchedulerConfig { AlgorithmType = algorithm }), 12, Data, 64, seed: 3);
        Assert.That(aliased.Samples, Is.EqualTo(plain.Samples));
    }

    [Test]
    public void NoiseEntersOnlyWhereTauIsPositive()
    {
        // With 200 training steps every timestep is below 200, so the reference's τ is 0 throughout: the steps solve the
        // probability-flow ODE and the draws (one per step, still taken) change nothing. With 1000 they do.
        var short200 = new SchedulerConfig { NumTrainTimesteps = 200 };
        Assert.That(Run(Create(short200), noiseSeed: 1), Is.EqualTo(Run(Create(short200), noiseSeed: 2)));
        Assert.That(Run(Create(new SchedulerConfig()), noiseSeed: 1), Is.Not.EqualTo(Run(Create(new SchedulerConfig()), noiseSeed: 2)));
    }

    // Ten steps of the ideal denoiser from the same x_T, with the step noise drawn from noiseSeed.
    private static float[] Run(ISampler sampler, ulong noiseSeed)
    {
        sampler.SetTimesteps(10);
        var x = new float[32];
        new TorchGaussianNoise(1).NextGaussian(x);
        float[] output = new float[x.Length], prev = new float[x.Length];
        var noise = new TorchGaussianNoise(noiseSeed);
        for (var k = 0; k < sampler.Timesteps.Count; k++)
        {
            ClosedFormSampling.IdealDenoiser(Data, sampler, k, sampler.Timesteps[k], x, output);
            sampler.Step(new StepInput(output, sampler.Timesteps[k], x, x.Length), new StepOutput(prev), noise);
            (x, prev) = (prev, x);
        }
        return x;
    }

    [Test]
    public void TheDefaultTauIsOneFrom200To800()
    {
        Assert.Multiple(() =>
        {
            Assert.That(SaSolverSampler.DefaultTau(199), Is.Zero);
            Assert.That(SaSolverSampler.DefaultTau(200), Is.EqualTo(1));
            Assert.That(SaSolverSampler.DefaultTau(800), Is.EqualTo(1));
            Assert.That(SaSolverSampler.DefaultTau(801), Is.Zero);
        });
    }

    // The order is the corrector's plus one where the predictor keeps up (P1C2, P2C2, P3C3), and the first-order
    // corrector's 1 otherwise (P2C1). P1C1's worst sample converges slowly until many steps (the reference's own float64
    // run: 5.1e-2 / 4.1e-2 / 3.8e-2 / 2.2e-2 at 10/20/40/80 steps), so it is measured from 40 steps on.
    [TestCase(1, 1, 0.6, 40)]
    [TestCase(1, 2, 1.8, 10)]
    [TestCase(2, 1, 0.9, 10)]
    [TestCase(2, 2, 1.8, 10)]
    [TestCase(3, 3, 2.5, 10)]
    public void AtTauZeroItConvergesToTheExactFlowAtItsOrder(int predictor, int corrector, double minimumOrder, int firstSteps)
    {
        // τ ≡ 0: the probability-flow ODE, whose exact solution on Gaussian data is known. Exponential σ: even steps in λ.
        int[] steps = [firstSteps, 2 * firstSteps, 4 * firstSteps];
        var errors = steps.Select(n =>
        {
            var sampler = new SaSolverSampler(new SchedulerConfig { PredictorOrder = predictor, CorrectorOrder = corrector, UseExponentialSigmas = true }, _ => 0);
            var run = ClosedFormSampling.Sample(sampler, n, Data, 2_000, seed: 7);
            return ClosedFormSampling.EndpointError(run, Data, sampler.Sigmas[^1]);
        }).ToArray();
        var observed = Math.Log(errors[1] / errors[2]) / Math.Log(2);
        TestContext.Out.WriteLine($"SA-Solver P{predictor}C{corrector}: errors {string.Join(" / ", errors.Select(e => e.ToString("E2")))} at {string.Join("/", steps)} steps; order {observed:F2}");
        Assert.Multiple(() =>
        {
            Assert.That(errors[1], Is.LessThan(errors[0]));
            Assert.That(observed, Is.GreaterThanOrEqualTo(minimumOrder));
        });
    }

    [Test]
    public void ASigmaSpacingEndsOnARepeatedSigmaWithTheCorrectedInputUnchanged()
    {
        // The last predictor spans h = 0: its coefficients vanish exactly and it returns the sample the corrector made.
        var sampler = Create(new SchedulerConfig { UseKarrasSigmas = true, PredictorOrder = 3, CorrectorOrder = 1 });
        sampler.SetTimesteps(8);
        Assert.That(sampler.Sigmas[^1], Is.EqualTo(sampler.Sigmas[^2]));
        var run = ClosedFormSampling.SampleOnSchedule(sampler, Data, 16, seed: 4);
        Assert.That(run.Samples.All(float.IsFinite));
    }

    [Test]
    public void WithoutASigmaSpacingTheLastStepEndsAtTrainingStepZero()
    {
        var sampler = Create(new SchedulerConfig());
        sampler.SetTimesteps(10);
        Assert.That(sampler.Sigmas[^1], Is.EqualTo(sampler.SigmaMin));
        Assert.That(sampler.Sigmas[^1], Is.GreaterThan(0));
    }

    [Test]
    public void LambdaMinClippedLeavesOutTheNoisiestTimesteps()
    {
        // The cosine schedule's λ falls below −5.1 over its last few training steps; those are not spaced over.
        var clipped = Create(new SchedulerConfig { BetaSchedule = BetaSchedule.SquaredCosCapV2, LambdaMinClipped = -5.1 });
        clipped.SetTimesteps(10);
        var plain = Create(new SchedulerConfig { BetaSchedule = BetaSchedule.SquaredCosCapV2 });
        plain.SetTimesteps(10);
        Assert.That(plain.Timesteps[0], Is.EqualTo(999));
        Assert.That(clipped.Timesteps[0], Is.LessThan(999));
        Assert.That(IntegerTimestepSigmas.Lambda(clipped.Sigmas[0]), Is.GreaterThanOrEqualTo(-5.1 - 1e-3));
    }
}
