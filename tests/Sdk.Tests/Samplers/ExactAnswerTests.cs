using Diffusion.Configuration;
using Diffusion.Tests.Support;

namespace Diffusion.Tests.Samplers;

/// <summary>
/// Samplers against exact answers: on Gaussian data (μ = 0.5, s = 0.2) the ideal denoiser is known in closed form,
/// so stochastic samplers must reproduce the data's mean and spread, and deterministic ones must converge to the
/// exact probability-flow endpoint as steps grow.
/// </summary>
[TestFixture]
public sealed class ExactAnswerTests
{
    private const int SampleCount = 20_000;
    private static readonly GaussianData Data = new(0.5, 0.2);

    // Clipping x₀ to [−1, 1] would change the answer; the data never needs it.
    private static SchedulerConfig Config(double? eta = null) => new() { ClipSample = false, Eta = eta };

    [TestCase("ddpm", null, 1000)]
    [TestCase("ddim", 1.0, 1000)]
    public void StochasticSamplerReproducesTheDataDistribution(string name, double? eta, int steps)
    {
        var sampler = TestHost.Factory.Create(name, Config(eta));
        var run = ClosedFormSampling.Sample(sampler, steps, Data, SampleCount, seed: 1234);
        var (mean, std) = ClosedFormSampling.Moments(run.Samples);
        var standardError = Data.Std / Math.Sqrt(SampleCount);
        Assert.Multiple(() =>
        {
            Assert.That(Math.Abs(mean - Data.Mean), Is.LessThan(4 * standardError), $"mean {mean:F5} vs {Data.Mean}");
            Assert.That(Math.Abs(std / Data.Std - 1), Is.LessThan(0.03), $"std {std:F5} vs {Data.Std}");
        });
    }

    [Test]
    public void DeterministicDdimConvergesToTheExactEndpoint()
    {
        var errors = new[] { 10, 100, 1000 }.Select(steps =>
            ClosedFormSampling.EndpointError(ClosedFormSampling.Sample(TestHost.Factory.Create("ddim", Config(0)), steps, Data, 2_000, seed: 7), Data)).ToArray();
        TestContext.Out.WriteLine($"DDIM max endpoint error at 10/100/1000 steps: {string.Join(" / ", errors.Select(e => e.ToString("E2")))}");
        Assert.Multiple(() =>
        {
            Assert.That(errors[1], Is.LessThan(errors[0]), "10 → 100 steps");
            Assert.That(errors[2], Is.LessThan(errors[1]), "100 → 1000 steps");
            Assert.That(errors[2], Is.LessThan(1e-2), "at 1000 steps");
        });
    }
}
