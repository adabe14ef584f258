using System.Reflection;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Conformance;

// The built-in samplers run the same conformance kit (Diffusion.Sdk.Testing) a plugin author runs: each fixture names
// its sampler and, where the method genuinely needs it, states a number with the reason.

[Category(Determinism.Categories.Arithmetic)]
public sealed class DdpmConformance : SamplerConformanceTests
{
    protected override ISampler CreateSampler(SchedulerConfig config) => TestHost.Factory.Create(SamplerNames.Ddpm, config);

    protected override SamplerKind Kind => SamplerKind.Stochastic;

    // Ancestral steps (x₀ replaced by its posterior mean, then fresh noise) lose (1 − σ_down/σ)²·Var[x₀ | x] of
    // variance per step, so they need fine steps on this data: the std is 6.3 % low at 250 steps (the kit's default)
    // and within 3 % at 1000 (every training step).
    protected override int DistributionSteps => 1000;
}

[Category(Determinism.Categories.Arithmetic)]
public sealed class DdimConformance : SamplerConformanceTests
{
    protected override ISampler CreateSampler(SchedulerConfig config) => TestHost.Factory.Create(SamplerNames.Ddim, config);

    protected override SamplerKind Kind => SamplerKind.Deterministic;

    // A first-order method (0.092 at 50 steps, above the kit's 0.05): followed to every training step, where it must
    // be within 1e-2 of the exact endpoint.
    protected override IReadOnlyList<int> ConvergenceSteps { get; } = [10, 20, 50, 100, 1000];

    protected override double ConvergedError => 1e-2;
}

[Category(Determinism.Categories.Arithmetic)]
public sealed class DdimEtaOneConformance : SamplerConformanceTests
{
    protected override ISampler CreateSampler(SchedulerConfig config)
    {
        config.Eta = 1.0;
        return TestHost.Factory.Create(SamplerNames.Ddim, config);
    }

    protected override SamplerKind Kind => SamplerKind.Stochastic;

    // With η = 1 DDIM is DDPM's ancestral step. Ancestral steps (x₀ replaced by its posterior mean, then fresh noise) lose (1 − σ_down/σ)²·Var[x₀ | x] of
    // variance per step, so they need fine steps on this data: the std is 6.3 % low at 250 steps (the kit's default)
    // and within 3 % at 1000 (every training step).
    protected override int DistributionSteps => 1000;
}

[Category(Determinism.Categories.Arithmetic)]
public sealed class DpmSolverConformance : SamplerConformanceTests
{
    // Defaults: dpmsolver++, order 2 (2M), midpoint, final σ = 0.
    protected override ISampler CreateSampler(SchedulerConfig config) => TestHost.Factory.Create(SamplerNames.DpmSolver, config);

    protected override SamplerKind Kind => SamplerKind.Deterministic;
}

[Category(Determinism.Categories.Arithmetic)]
public sealed class SdeDpmSolverConformance : SamplerConformanceTests
{
    protected override ISampler CreateSampler(SchedulerConfig config)
    {
        config.AlgorithmType = "sde-dpmsolver++";
        return TestHost.Factory.Create(SamplerNames.DpmSolver, config);
    }

    protected override SamplerKind Kind => SamplerKind.Stochastic;
}

[Category(Determinism.Categories.Arithmetic)]
public sealed class EulerConformance : SamplerConformanceTests
{
    protected override ISampler CreateSampler(SchedulerConfig config) => TestHost.Factory.Create(SamplerNames.Euler, config);

    protected override SamplerKind Kind => SamplerKind.Deterministic;

    // A first-order method: 0.40 / 0.22 / 0.094 at 10 / 20 / 50 steps, so 0.1 at 50 rather than the kit's 0.05, and
    // an observed order of at least 0.8 (measured 0.83 and 0.94), stricter than the kit's 0.75.
    protected override double ConvergedError => 0.1;

    protected override double MinimumConvergenceOrder => 0.8;
}

[Category(Determinism.Categories.Arithmetic)]
public sealed class EulerAncestralConformance : SamplerConformanceTests
{
    protected override ISampler CreateSampler(SchedulerConfig config) => TestHost.Factory.Create(SamplerNames.EulerAncestral, config);

    protected override SamplerKind Kind => SamplerKind.Stochastic;

    // The same ancestral step in σ. Ancestral steps (x₀ replaced by its posterior mean, then fresh noise) lose (1 − σ_down/σ)²·Var[x₀ | x] of
    // variance per step, so they need fine steps on this data: the std is 6.3 % low at 250 steps (the kit's default)
    // and within 3 % at 1000 (every training step).
    protected override int DistributionSteps => 1000;
}

[Category(Determinism.Categories.Arithmetic)]
public sealed class PndmConformance : SamplerConformanceTests
{
    // Defaults: the Runge–Kutta warm-up (skip_prk_steps false), set_alpha_to_one false.
    protected override ISampler CreateSampler(SchedulerConfig config) => TestHost.Factory.Create(SamplerNames.Pndm, config);

    protected override SamplerKind Kind => SamplerKind.Deterministic;

    // A fourth-order multistep: 1.9e-3 at 50 steps, so held to 1e-2 rather than the kit's 0.05.
    protected override double ConvergedError => 1e-2;
}

[Category(Determinism.Categories.Arithmetic)]
public sealed class PndmSkipPrkConformance : SamplerConformanceTests
{
    // The other warm-up: one Euler step and a Heun correction instead of three Runge–Kutta steps.
    protected override ISampler CreateSampler(SchedulerConfig config)
    {
        config.SkipPrkSteps = true;
        return TestHost.Factory.Create(SamplerNames.Pndm, config);
    }

    protected override SamplerKind Kind => SamplerKind.Deterministic;

    protected override double ConvergedError => 1e-2;
}

public sealed class HeunConformance : SamplerConformanceTests
{
    protected override ISampler CreateSampler(SchedulerConfig config) => TestHost.Factory.Create(SamplerNames.Heun, config);

    protected override SamplerKind Kind => SamplerKind.Deterministic;

    // A second-order method, held to second-order numbers: measured 0.27 / 0.061 / 0.0092 at 10 / 20 / 50 steps,
    // observed order 2.13 and 2.07.
    protected override double MinimumConvergenceOrder => 1.5;

    protected override double ConvergedError => 1e-2;
}

public sealed class Kdpm2Conformance : SamplerConformanceTests
{
    protected override ISampler CreateSampler(SchedulerConfig config) => TestHost.Factory.Create(SamplerNames.Kdpm2, config);

    protected override SamplerKind Kind => SamplerKind.Deterministic;

    // Second order (DPM-Solver-2): measured 0.60 / 0.17 / 0.028 at 10 / 20 / 50 steps, observed order 1.85 and 1.95;
    // its midpoint rule has a larger error constant than Heun's trapezoid, so the kit's 0.05 at 50 steps stands.
    protected override double MinimumConvergenceOrder => 1.5;

    // For the same reason the wrappers are checked at 50 steps: at 20 (error 0.17) temperature 1.05 adds its own
    // shift (the exact flow of the damped ODE ends with std 0.275, not 0.2) and the two together give 0.325, past the
    // kit's 0.1; at 50 steps the run is close to that exact flow.
    protected override int WrapperSteps => 50;
}

public sealed class Kdpm2AncestralConformance : SamplerConformanceTests
{
    protected override ISampler CreateSampler(SchedulerConfig config) => TestHost.Factory.Create(SamplerNames.Kdpm2Ancestral, config);

    protected override SamplerKind Kind => SamplerKind.Stochastic;

    // Ancestral steps lose (1 − σ_down/σ)²·Var[x₀ | x] of variance per step (see EulerAncestralConformance), so they
    // need fine steps on this data: at 1000 steps the std is 0.5 % low and the mean within 2.3 standard errors.
    protected override int DistributionSteps => 1000;
}

public sealed class LmsConformance : SamplerConformanceTests
{
    // Defaults: order 4.
    protected override ISampler CreateSampler(SchedulerConfig config) => TestHost.Factory.Create(SamplerNames.Lms, config);

    protected override SamplerKind Kind => SamplerKind.Deterministic;

    // Fourth order once its history fills: 0.28 / 0.060 / 4.5e-4 at 10 / 20 / 50 steps (observed order 2.19, 5.35),
    // so held to 1e-2 rather than the kit's 0.05.
    protected override double ConvergedError => 1e-2;
}

/// <summary>No built-in sampler escapes the kit.</summary>
[TestFixture]
public sealed class ConformanceCoverageTests
{
    [Test]
    public void EveryRegisteredSamplerHasAConformanceFixture()
    {
        var create = typeof(SamplerConformanceTests).GetMethod("CreateSampler", BindingFlags.Instance | BindingFlags.NonPublic)!;
        var covered = typeof(ConformanceCoverageTests).Assembly.GetTypes()
            .Where(t => t is { IsAbstract: false } && t.IsSubclassOf(typeof(SamplerConformanceTests)))
            .Select(t => ((ISampler)create.Invoke(Activator.CreateInstance(t), [new SchedulerConfig()])!).Name)
            .ToHashSet();
        var createAdaptive = typeof(AdaptiveSamplerConformanceTests).GetMethod("CreateSampler", BindingFlags.Instance | BindingFlags.NonPublic)!;
        covered.UnionWith(typeof(ConformanceCoverageTests).Assembly.GetTypes()
            .Where(t => t is { IsAbstract: false } && t.IsSubclassOf(typeof(AdaptiveSamplerConformanceTests)))
            .Select(t => ((ISampler)createAdaptive.Invoke(Activator.CreateInstance(t), [new SchedulerConfig()])!).Name));
        var createInversion = typeof(InversionConformanceTests).GetMethod("CreateSampler", BindingFlags.Instance | BindingFlags.NonPublic)!;
        covered.UnionWith(typeof(ConformanceCoverageTests).Assembly.GetTypes()
            .Where(t => t is { IsAbstract: false } && t.IsSubclassOf(typeof(InversionConformanceTests)))
            .Select(t => ((ISampler)createInversion.Invoke(Activator.CreateInstance(t), [new SchedulerConfig()])!).Name));
        Assert.That(TestHost.Factory.Names, Is.SubsetOf(covered));
    }
}

[Category(Determinism.Categories.Arithmetic)]
public sealed class UniPcConformance : SamplerConformanceTests
{
    // Defaults: UniPC-2 with bh2, data prediction, the corrector on every step, final σ = 0.
    protected override ISampler CreateSampler(SchedulerConfig config) => TestHost.Factory.Create(SamplerNames.UniPc, config);

    protected override SamplerKind Kind => SamplerKind.Deterministic;
}

[Category(Determinism.Categories.Arithmetic)]
public sealed class UniPcOrder3Bh1Conformance : SamplerConformanceTests
{
    // The other B(h) at the highest order, with a final σ = 0 step that the reference turns into NaN for bh1.
    protected override ISampler CreateSampler(SchedulerConfig config)
    {
        config.SolverOrder = 3;
        config.SolverType = "bh1";
        return TestHost.Factory.Create(SamplerNames.UniPc, config);
    }

    protected override SamplerKind Kind => SamplerKind.Deterministic;
}

[Category(Determinism.Categories.Arithmetic)]
public sealed class UniPcNoisePredictionConformance : SamplerConformanceTests
{
    // predict_x0 false integrates ε; the step to σ = 0 is undefined there, so it ends at σ_min.
    protected override ISampler CreateSampler(SchedulerConfig config)
    {
        config.PredictX0 = false;
        config.FinalSigmasType = "sigma_min";
        return TestHost.Factory.Create(SamplerNames.UniPc, config);
    }

    protected override SamplerKind Kind => SamplerKind.Deterministic;
}

[Category(Determinism.Categories.Arithmetic)]
public sealed class DeisConformance : SamplerConformanceTests
{
    // Defaults: DEIS-2 (ρAB, log-ρ polynomial), ending at σ of training step 0.
    protected override ISampler CreateSampler(SchedulerConfig config) => TestHost.Factory.Create(SamplerNames.Deis, config);

    protected override SamplerKind Kind => SamplerKind.Deterministic;

    // On linspace timesteps the error is not monotone in the step count: 0.36 / 0.067 / 0.014 / 0.019 / 0.022 / 0.011 /
    // 0.0036 at 10 / 15 / 20 / 30 / 50 / 100 / 200 steps. The last steps are long in log ρ (training steps 5 → 0 are
    // 0.9 apart), where ε ∝ ρ is exponential in log ρ and a polynomial in log ρ follows it poorly; at 20 steps that
    // error happens to cancel the first steps'. So the kit's 20 would compare with a lucky point: checked at 10 / 50 /
    // 100 / 200 instead (order ≥ 0.75 between each). DeisOrder3Conformance checks the spacing the method is built for.
    protected override IReadOnlyList<int> ConvergenceSteps { get; } = [10, 50, 100, 200];
}

[Category(Determinism.Categories.Arithmetic)]
public sealed class DeisOrder3Conformance : SamplerConformanceTests
{
    // Third order on exponential σ (even steps in log ρ, where the log-ρ polynomial is accurate): 0.23 / 0.018 / 1.8e-3 /
    // 5.1e-5 from its own final σ at 5 / 10 / 20 / 50 steps. The kit measures to ᾱ = 1, and DEIS stops at σ_min ≈ 0.01,
    // 9e-4 from it on this data: that floor is reached by 20 steps, so checked at 5 / 10 / 20 and to 2e-3. On linspace
    // timesteps its error is not monotone (0.12 at 15 steps, 0.13 at 20, 2.3e-4 at 100, 8.5e-4 at 200) for the reason
    // DeisConformance gives.
    protected override ISampler CreateSampler(SchedulerConfig config)
    {
        config.SolverOrder = 3;
        config.UseExponentialSigmas = true;
        return TestHost.Factory.Create(SamplerNames.Deis, config);
    }

    protected override SamplerKind Kind => SamplerKind.Deterministic;

    protected override IReadOnlyList<int> ConvergenceSteps { get; } = [5, 10, 20];

    protected override double ConvergedError => 2e-3;
}

[Category(Determinism.Categories.Arithmetic)]
public sealed class DpmAdaptiveConformance : AdaptiveSamplerConformanceTests
{
    // Defaults: the DPM-Solver-2/3 pair, rtol 0.05, atol 0.0078 (k-diffusion's).
    protected override IAdaptiveSampler CreateSampler(SchedulerConfig config) => (IAdaptiveSampler)TestHost.Factory.Create(SamplerNames.DpmAdaptive, config);
}

[Category(Determinism.Categories.Arithmetic)]
public sealed class DpmAdaptiveOrder2Conformance : AdaptiveSamplerConformanceTests
{
    protected override IAdaptiveSampler CreateSampler(SchedulerConfig config)
    {
        config.AdditionalKeys["order"] = System.Text.Json.JsonSerializer.SerializeToElement(2);
        return (IAdaptiveSampler)TestHost.Factory.Create(SamplerNames.DpmAdaptive, config);
    }
}
