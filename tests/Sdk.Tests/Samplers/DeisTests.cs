using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Deis;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// DEIS beyond the reference vectors: typed errors, the reference's aliases, exact answers on Gaussian data
/// (μ = 0.5, s = 0.2) at every order, and the σ-table contract.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class DeisTests
{
    private static readonly GaussianData Data = new(0.5, 0.2);

    private static DeisSampler Create(SchedulerConfig config) => (DeisSampler)TestHost.Factory.Create(SamplerNames.Deis, config);

    public static IEnumerable<TestCaseData> InvalidConfigurations()
    {
        yield return new TestCaseData(new SchedulerConfig { AlgorithmType = "sde-dpmsolver++" }, "algorithm_type").SetName("Unknown algorithm_type");
        yield return new TestCaseData(new SchedulerConfig { SolverType = "rk4" }, "solver_type").SetName("Unknown solver_type");
        yield return new TestCaseData(new SchedulerConfig { SolverOrder = 0 }, "solver_order").SetName("solver_order 0");
        yield return new TestCaseData(new SchedulerConfig { UseExponentialSigmas = true, UseBetaSigmas = true }, "use_exponential_sigmas").SetName("Two σ spacings at once");
    }

    [TestCaseSource(nameof(InvalidConfigurations))]
    public void UndefinedConfigurationIsATypedErrorNamingItsKey(SchedulerConfig config, string key)
    {
        var e = Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.Create(SamplerNames.Deis, config));
        Assert.That(e!.Key, Is.EqualTo(key), e.Message);
    }

    [Test]
    public void NamesOfOtherSolversReadAsDeisAndLogRho()
    {
        var aliased = ClosedFormSampling.Sample(Create(new SchedulerConfig { AlgorithmType = "dpmsolver++", SolverType = "bh2" }), 10, Data, 64, seed: 3);
        var plain = ClosedFormSampling.Sample(Create(new SchedulerConfig()), 10, Data, 64, seed: 3);
        Assert.That(aliased.Samples, Is.EqualTo(plain.Samples));
    }

    [TestCase(1, 0.95)]
    [TestCase(2, 1.9)]
    [TestCase(3, 2.8)]
    public void ConvergesToTheExactFlowAtItsOrder(int order, double minimumOrder)
    {
        // Exponential σ: even steps in log ρ, the variable the method's polynomial lives in; measured at its own final σ.
        // Third order at 10/20/40 steps: its coefficients are the reference's closed forms in float32 (as the reference
        // computes them), whose cancellation leaves an error floor of ~10⁻⁴ that 80 steps reach (1.1e-4 at 40, 3.7e-4 at 80).
        int[] steps = order == 3 ? [10, 20, 40] : [20, 40, 80];
        var errors = steps.Select(n =>
        {
            var sampler = Create(new SchedulerConfig { SolverOrder = order, UseExponentialSigmas = true });
            var run = ClosedFormSampling.Sample(sampler, n, Data, 2_000, seed: 7);
            return ClosedFormSampling.EndpointError(run, Data, sampler.Sigmas[^1]);
        }).ToArray();
        var observed = Math.Log(errors[1] / errors[2]) / Math.Log(2);
        TestContext.Out.WriteLine($"DEIS-{order}: errors {string.Join(" / ", errors.Select(e => e.ToString("E2")))} at {string.Join("/", steps)} steps; order {observed:F2}");
        Assert.Multiple(() =>
        {
            Assert.That(errors[1], Is.LessThan(errors[0]));
            Assert.That(observed, Is.GreaterThanOrEqualTo(minimumOrder));
        });
    }

    [Test]
    public void TheFirstOrderIsDdim()
    {
        // DEIS-1 is DDIM (Zhang & Chen 2023, §4): x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε at the step's own ε.
        var sampler = Create(new SchedulerConfig { SolverOrder = 1 });
        sampler.SetTimesteps(10);
        float[] x = [0.7f, -1.2f], eps = [0.3f, 0.9f], next = new float[2];
        sampler.Step(new StepInput(eps, sampler.Timesteps[0], x, 1), new StepOutput(next), new RecordedNoise([]));
        var (aS, sS) = (1 / Math.Sqrt(1 + sampler.Sigmas[0] * sampler.Sigmas[0]), 0.0);
        sS = sampler.Sigmas[0] * aS;
        var aT = 1 / Math.Sqrt(1 + sampler.Sigmas[1] * sampler.Sigmas[1]);
        var sT = sampler.Sigmas[1] * aT;
        for (var i = 0; i < 2; i++)
            Assert.That(next[i], Is.EqualTo(aT * (x[i] - sS * eps[i]) / aS + sT * eps[i]).Within(1e-5));
    }

    [Test]
    public void ASigmaSpacingEndsOnARepeatedSigmaWithTheInputUnchanged()
    {
        var sampler = Create(new SchedulerConfig { UseBetaSigmas = true, SolverOrder = 3 });
        sampler.SetTimesteps(20);
        Assert.That(sampler.Sigmas[^1], Is.EqualTo(sampler.Sigmas[^2]));
        var x = new float[] { 0.4f, -0.2f };
        var output = new float[2];
        for (var k = 0; k < sampler.Timesteps.Count; k++)
        {
            var before = (float[])x.Clone();
            for (var i = 0; i < x.Length; i++) output[i] = 0.5f * x[i];
            sampler.Step(new StepInput(output, sampler.Timesteps[k], x, 1), new StepOutput(x), new RecordedNoise([]));
            if (k == sampler.Timesteps.Count - 1) Assert.That(x, Is.EqualTo(before));
        }
    }

    [Test]
    public void WithoutASigmaSpacingTheLastStepEndsAtTrainingStepZero()
    {
        var sampler = Create(new SchedulerConfig());
        sampler.SetTimesteps(10);
        Assert.That(sampler.Sigmas[^1], Is.EqualTo(sampler.SigmaMin));
        Assert.That(sampler.Sigmas[^1], Is.GreaterThan(0));
    }
}
