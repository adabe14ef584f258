using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.UniPc;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// UniPC beyond the reference vectors: typed errors for configurations the method does not define, exact answers on
/// Gaussian data (μ = 0.5, s = 0.2) for every order, B(h) and prediction target, what the corrector buys, and the
/// σ-table contract (repeated timesteps, the repeated final σ, explicit lists).
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class UniPcTests
{
    private static readonly GaussianData Data = new(0.5, 0.2);

    private static UniPcSampler Create(SchedulerConfig config) => (UniPcSampler)TestHost.Factory.Create(SamplerNames.UniPc, config);

    public static IEnumerable<TestCaseData> InvalidConfigurations()
    {
        yield return new TestCaseData(new SchedulerConfig { SolverType = "rk4" }, "solver_type").SetName("Unknown solver_type");
        yield return new TestCaseData(new SchedulerConfig { FinalSigmasType = "one" }, "final_sigmas_type").SetName("Unknown final_sigmas_type");
        yield return new TestCaseData(new SchedulerConfig { SolverOrder = 4 }, "solver_order").SetName("solver_order 4");
        // The reference turns these into NaN on the last step.
        yield return new TestCaseData(new SchedulerConfig { PredictX0 = false }, "final_sigmas_type").SetName("predict_x0 false with final σ = 0");
        yield return new TestCaseData(new SchedulerConfig { LowerOrderFinal = false, SolverOrder = 2 }, "final_sigmas_type").SetName("lower_order_final false at order 2 with final σ = 0");
        yield return new TestCaseData(new SchedulerConfig { UseKarrasSigmas = true, UseBetaSigmas = true }, "use_karras_sigmas").SetName("Two σ spacings at once");
        yield return new TestCaseData(new SchedulerConfig { UseKarrasSigmas = true, SigmaMin = 200.0 }, "sigma_min").SetName("sigma_min above the table's σ_max");
    }

    [TestCaseSource(nameof(InvalidConfigurations))]
    public void UndefinedConfigurationIsATypedErrorNamingItsKey(SchedulerConfig config, string key)
    {
        var e = Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.Create(SamplerNames.UniPc, config));
        Assert.That(e!.Key, Is.EqualTo(key), e.Message);
    }

    [Test]
    public void SolverTypesOfOtherSolversReadAsBh2()
    {
        var aliased = ClosedFormSampling.Sample(Create(new SchedulerConfig { SolverType = "midpoint" }), 10, Data, 64, seed: 3);
        var plain = ClosedFormSampling.Sample(Create(new SchedulerConfig()), 10, Data, 64, seed: 3);
        Assert.That(aliased.Samples, Is.EqualTo(plain.Samples));
    }

    // ---- exact answers on Gaussian data --------------------------------------------------------------------------

    /// <summary>The largest distance to the exact flow at the run's own final σ, on exponential σ (even steps in λ).</summary>
    private static double Error(SchedulerConfig config, int steps)
    {
        config.UseExponentialSigmas = true;
        config.FinalSigmasType ??= "sigma_min";
        var sampler = Create(config);
        var run = ClosedFormSampling.Sample(sampler, steps, Data, 2_000, seed: 7);
        return ClosedFormSampling.EndpointError(run, Data, sampler.Sigmas[^1]);
    }

    [TestCase(1, "bh2", true, 1.8)]
    [TestCase(2, "bh2", true, 2.6)]
    [TestCase(3, "bh2", true, 3.2)]
    [TestCase(1, "bh1", true, 1.8)]
    [TestCase(2, "bh1", true, 2.6)]
    [TestCase(3, "bh1", true, 3.2)]
    [TestCase(2, "bh2", false, 2.6)]
    [TestCase(3, "bh1", false, 3.2)]
    public void ConvergesToTheExactFlowAtItsOrderPlusOne(int order, string solverType, bool predictX0, double minimumOrder)
    {
        // UniC-p raises the predictor's order p by one (Zhao et al. 2023, Theorem 3.3), so UniPC-p converges at order p + 1.
        int[] steps = [10, 20, 40];
        var errors = steps.Select(n => Error(new SchedulerConfig { SolverOrder = order, SolverType = solverType, PredictX0 = predictX0 }, n)).ToArray();
        var observed = Math.Log(errors[1] / errors[2]) / Math.Log(2);
        TestContext.Out.WriteLine($"UniPC-{order} {solverType} predict_x0 {predictX0}: errors {string.Join(" / ", errors.Select(e => e.ToString("E2")))} at 10/20/40 steps; order {observed:F2}");
        Assert.Multiple(() =>
        {
            Assert.That(errors[1], Is.LessThan(errors[0]));
            Assert.That(observed, Is.GreaterThanOrEqualTo(minimumOrder));
        });
    }

    [Test]
    public void TheCorrectorRaisesTheOrder()
    {
        // With the corrector off on every step this is UniP-2 alone, a second-order method.
        var all = Enumerable.Range(0, 40).ToArray();
        double Order(int[] disabled) => Math.Log(Error(new SchedulerConfig { DisableCorrector = disabled }, 20) / Error(new SchedulerConfig { DisableCorrector = disabled }, 40)) / Math.Log(2);
        var (corrected, predictorOnly) = (Order([]), Order(all));
        TestContext.Out.WriteLine($"observed order 20 → 40 steps: {corrected:F2} with the corrector, {predictorOnly:F2} without");
        Assert.Multiple(() =>
        {
            Assert.That(predictorOnly, Is.InRange(1.7, 2.4), "UniP-2");
            Assert.That(corrected, Is.GreaterThan(predictorOnly + 0.6), "UniPC-2");
        });
    }

    [Test]
    public void Bh1StepsToSigmaZeroWithoutNaN()
    {
        // The reference multiplies B(h) = −∞ by a zero correction on the last step; the step is the x₀ prediction.
        var run = ClosedFormSampling.Sample(Create(new SchedulerConfig { SolverType = "bh1" }), 20, Data, 256, seed: 5);
        Assert.That(run.Samples, Is.All.Not.NaN);
        Assert.That(ClosedFormSampling.EndpointError(run, Data), Is.LessThan(0.25));
    }

    // ---- the σ table ---------------------------------------------------------------------------------------------

    [TestCase(SigmaSpacing.Karras)]
    [TestCase(SigmaSpacing.Exponential)]
    [TestCase(SigmaSpacing.Beta)]
    public void ARepeatedFinalSigmaEndsWithTheInputUnchanged(SigmaSpacing spacing)
    {
        // The last step predicts over a zero interval, which leaves the (corrected) sample as it is; with that step's
        // corrector off, the input itself. The reference gives NaN here above first order.
        var config = new SchedulerConfig
        {
            FinalSigmasType = "sigma_min", SolverOrder = 3, LowerOrderFinal = false, DisableCorrector = [10],
            UseKarrasSigmas = spacing == SigmaSpacing.Karras, UseExponentialSigmas = spacing == SigmaSpacing.Exponential, UseBetaSigmas = spacing == SigmaSpacing.Beta,
        };
        var sampler = Create(config);
        sampler.SetTimesteps(12);
        Assert.That(sampler.Sigmas[^1], Is.EqualTo(sampler.Sigmas[^2]));
        var x = new float[8];
        var output = new float[8];
        for (var i = 0; i < x.Length; i++) x[i] = 0.1f * i - 0.3f;
        for (var k = 0; k < sampler.Timesteps.Count; k++)
        {
            var before = (float[])x.Clone();
            for (var i = 0; i < x.Length; i++) output[i] = 0.5f * x[i];
            sampler.Step(new StepInput(output, sampler.Timesteps[k], x, 2), new StepOutput(x), new RecordedNoise([]));
            if (k == sampler.Timesteps.Count - 1) Assert.That(x, Is.EqualTo(before), "the step over the zero interval");
            else Assert.That(x, Is.Not.EqualTo(before), $"step {k}");
        }
        Assert.That(x, Is.All.Not.NaN);
    }

    [Test]
    public void TruncatedTimestepsMayRepeatAndAddNoiseUsesTheSecond()
    {
        // Exponential σ at many steps: truncating their timesteps puts several σ on one training step.
        var sampler = Create(new SchedulerConfig { UseExponentialSigmas = true });
        sampler.SetTimesteps(400);
        var t = sampler.Timesteps;
        var repeat = Enumerable.Range(1, t.Count - 1).First(i => t[i] == t[i - 1]);
        var run = ClosedFormSampling.SampleOnSchedule(sampler, Data, 256, seed: 2);
        Assert.That(run.Samples, Is.All.Not.NaN);

        float[] x0 = [0.25f], eps = [1.5f], noisy = new float[1];
        sampler.AddNoise(x0, eps, [t[repeat]], noisy);
        var sigma = sampler.Sigmas[repeat];
        var alpha = 1 / Math.Sqrt(1 + sigma * sigma);
        Assert.That(noisy[0], Is.EqualTo(alpha * 0.25 + sigma * alpha * 1.5).Within(1e-6));
    }

    [Test]
    public void AnExplicitListOfTheSpacedTimestepsGivesTheSameRun()
    {
        var spaced = Create(new SchedulerConfig { SolverOrder = 3 });
        spaced.SetTimesteps(15);
        var explicitList = Create(new SchedulerConfig { SolverOrder = 3 });
        explicitList.SetTimesteps(spaced.Timesteps.ToArray());
        Assert.That(explicitList.Sigmas, Is.EqualTo(spaced.Sigmas));
        Assert.That(ClosedFormSampling.SampleOnSchedule(explicitList, Data, 64, seed: 9).Samples,
            Is.EqualTo(ClosedFormSampling.SampleOnSchedule(spaced, Data, 64, seed: 9).Samples));
    }

    [Test]
    public void KarrasSigmasGivenExplicitlyRunAsUseKarrasSigmas()
    {
        var karras = Create(new SchedulerConfig { UseKarrasSigmas = true });
        karras.SetTimesteps(12);
        var given = Create(new SchedulerConfig());
        given.SetSigmas(karras.Sigmas.Take(12).ToArray());
        Assert.That(given.Timesteps, Is.EqualTo(karras.Timesteps));
        Assert.That(ClosedFormSampling.SampleOnSchedule(given, Data, 64, seed: 9).Samples,
            Is.EqualTo(ClosedFormSampling.SampleOnSchedule(karras, Data, 64, seed: 9).Samples));
    }
}
