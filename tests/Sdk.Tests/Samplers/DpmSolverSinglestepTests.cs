using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.DpmSolver;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>The single-step DPM-Solver beyond the reference vectors: its cycles of orders, and typed errors.</summary>
[TestFixture]
public sealed class DpmSolverSinglestepTests
{
    private static DpmSolverSinglestepSampler Create(SchedulerConfig config) =>
        (DpmSolverSinglestepSampler)TestHost.Factory.Create(SamplerNames.DpmSolverSinglestep, config);

    [TestCase(3, 12, "zero", false, new[] { 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 1 })]
    [TestCase(3, 10, "zero", false, new[] { 1, 2, 3, 1, 2, 3, 1, 2, 3, 1 })]
    [TestCase(3, 8, "sigma_min", false, new[] { 1, 2, 3, 1, 2, 3, 1, 2 })]
    [TestCase(3, 9, "sigma_min", false, new[] { 1, 2, 3, 1, 2, 3, 1, 2, 3 })]
    [TestCase(3, 9, "sigma_min", true, new[] { 1, 2, 3, 1, 2, 3, 1, 2, 1 })]
    [TestCase(2, 6, "zero", false, new[] { 1, 2, 1, 2, 1, 1 })]
    [TestCase(2, 6, "sigma_min", false, new[] { 1, 2, 1, 2, 1, 2 })]
    [TestCase(2, 5, "sigma_min", false, new[] { 1, 2, 1, 2, 1 })]
    [TestCase(1, 3, "zero", false, new[] { 1, 1, 1 })]
    public void StepOrdersCycleAndEndAsLowerOrderFinalSays(int order, int steps, string finalSigmas, bool lowerOrderFinal, int[] expected)
    {
        var sampler = Create(new SchedulerConfig { SolverOrder = order, FinalSigmasType = finalSigmas, LowerOrderFinal = lowerOrderFinal });
        sampler.SetTimesteps(steps);
        Assert.That(sampler.StepOrders, Is.EqualTo(expected));
    }

    public static IEnumerable<TestCaseData> InvalidConfigurations()
    {
        yield return new TestCaseData(new SchedulerConfig { AlgorithmType = "sde-dpmsolver" }, "algorithm_type").SetName("sde-dpmsolver (not a single-step algorithm)");
        yield return new TestCaseData(new SchedulerConfig { SolverType = "rk4" }, "solver_type").SetName("Unknown solver_type");
        yield return new TestCaseData(new SchedulerConfig { SolverOrder = 4 }, "solver_order").SetName("solver_order 4");
        yield return new TestCaseData(new SchedulerConfig { AlgorithmType = "dpmsolver" }, "final_sigmas_type").SetName("dpmsolver into σ = 0");
        yield return new TestCaseData(new SchedulerConfig { UseKarrasSigmas = true, UseBetaSigmas = true }, "use_beta_sigmas").SetName("Two σ spacings");
    }

    [TestCaseSource(nameof(InvalidConfigurations))]
    public void AnUndefinedConfigurationIsATypedErrorNamingItsKey(SchedulerConfig config, string key)
    {
        var e = Assert.Throws<SchedulerConfigException>(() => Create(config));
        Assert.That(e!.Key, Is.EqualTo(key), e.Message);
    }

    [Test]
    public void AnExplicitListWithASigmaSpacingIsATypedError()
    {
        var sampler = Create(new SchedulerConfig { UseExponentialSigmas = true });
        Assert.Throws<SchedulerConfigException>(() => sampler.SetTimesteps(new double[] { 999, 500, 0 }));
    }

    [Test]
    public void LambdaMinClippedLeavesOutTheTopTimesteps()
    {
        // λ = −log σ of the cosine schedule falls below −5.1 over its last training steps, which are left out.
        var clipped = Create(new SchedulerConfig { BetaSchedule = BetaSchedule.SquaredCosCapV2, LambdaMinClipped = -5.1 });
        clipped.SetTimesteps(10);
        Assert.That(clipped.Timesteps[0], Is.LessThan(999));
        Assert.That(-Math.Log(clipped.Sigmas[0]), Is.GreaterThanOrEqualTo(-5.1 - 1e-6));
    }
}
