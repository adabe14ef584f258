using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Schedules;

[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class NoiseScheduleTests
{
    private static NoiseSchedule Linear => NoiseSchedule.FromConfig(new SchedulerConfig());

    [Test]
    public void TheLastFormulaScheduleIsSharedAndAnyChangedSettingBuildsANewOne()
    {
        SchedulerConfig Sd() => new() { BetaSchedule = BetaSchedule.ScaledLinear, BetaStart = 0.00085, BetaEnd = 0.012 };
        var first = NoiseSchedule.FromConfig(Sd());
        Assert.That(NoiseSchedule.FromConfig(Sd()), Is.SameAs(first));
        foreach (var change in new Action<SchedulerConfig>[]
        {
            c => c.BetaSchedule = BetaSchedule.Linear, c => c.BetaStart = 0.0009, c => c.BetaEnd = 0.013, c => c.NumTrainTimesteps = 999,
            c => c.RescaleBetasZeroSnr = true,
        })
        {
            var changed = Sd();
            change(changed);
            var other = NoiseSchedule.FromConfig(changed);
            Assert.That(other, Is.Not.SameAs(first));
            Assert.That(other.Betas.ToArray(), Is.EqualTo(new NoiseSchedule(BetaSchedules.FromConfig(changed)).Betas.ToArray()));
        }
        var trained = new SchedulerConfig { NumTrainTimesteps = 3, TrainedBetas = [0.1, 0.2, 0.3] };
        Assert.That(NoiseSchedule.FromConfig(trained), Is.Not.SameAs(NoiseSchedule.FromConfig(trained)), "trained β lists are not cached");
        Assert.That(NoiseSchedule.FromConfig(Sd()).AlphasCumprod.ToArray(), Is.EqualTo(new NoiseSchedule(BetaSchedules.FromConfig(Sd())).AlphasCumprod.ToArray()));
    }

    [Test]
    public void LinearBetasRunFromStartToEnd()
    {
        var betas = Linear.Betas.ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(betas.Length, Is.EqualTo(1000));
            Assert.That(betas[0], Is.EqualTo(1e-4).Within(1e-15));
            Assert.That(betas[999], Is.EqualTo(0.02).Within(1e-15));
            Assert.That(betas[500], Is.EqualTo(1e-4 + 500.0 / 999 * (0.02 - 1e-4)).Within(1e-15));
        });
    }

    [Test]
    public void DerivedQuantitiesFollowTheirDefinitions()
    {
        var s = Linear;
        var product = 1.0;
        for (var t = 0; t < s.NumTrainTimesteps; t++)
        {
            var previous = product;
            product *= 1 - s.Betas[t];
            var abar = product;
            Assert.That(s.AlphasCumprod[t], Is.EqualTo(abar).Within(1e-15), $"ᾱ at {t}");
            Assert.That(s.AlphasCumprodPrev[t], Is.EqualTo(previous).Within(1e-15));
            Assert.That(s.SqrtAlphasCumprod[t] * s.SqrtAlphasCumprod[t], Is.EqualTo(abar).Within(1e-14));
            Assert.That(s.SqrtOneMinusAlphasCumprod[t] * s.SqrtOneMinusAlphasCumprod[t], Is.EqualTo(1 - abar).Within(1e-14));
            Assert.That(s.SqrtRecipAlphasCumprod[t] * s.SqrtAlphasCumprod[t], Is.EqualTo(1).Within(1e-12));
            Assert.That(s.SqrtRecipM1AlphasCumprod[t], Is.EqualTo(Math.Sqrt(1 / abar - 1)).Within(1e-12 * s.SqrtRecipM1AlphasCumprod[t]));
            Assert.That(s.Sigmas[t], Is.EqualTo(s.SqrtRecipM1AlphasCumprod[t]).Within(1e-12 * s.Sigmas[t]), "σ = √((1−ᾱ)/ᾱ)");
            Assert.That(s.Snr[t], Is.EqualTo(abar / (1 - abar)).Within(1e-12 * s.Snr[t]));
            Assert.That(s.LogSnr[t], Is.EqualTo(Math.Log(s.Snr[t])).Within(1e-9));
            Assert.That(s.PosteriorVariance[t], Is.EqualTo(s.Betas[t] * (1 - previous) / (1 - abar)).Within(1e-15));
            Assert.That(s.PosteriorLogVarianceClipped[t], Is.EqualTo(Math.Log(Math.Max(s.PosteriorVariance[t], 1e-20))).Within(1e-12));
        }
        Assert.That(s.PosteriorVariance[0], Is.Zero, "q(x_{-1} | x_0) is a point");
        Assert.That(s.PosteriorLogVarianceClipped[0], Is.EqualTo(Math.Log(1e-20)).Within(1e-9));
    }

    [Test]
    public void CosineScheduleFollowsItsAlphaBarAndIsCapped()
    {
        var s = NoiseSchedule.FromConfig(new SchedulerConfig { BetaSchedule = BetaSchedule.SquaredCosCapV2 });
        static double F(double t) => Math.Pow(Math.Cos((t + 0.008) / 1.008 * Math.PI / 2), 2);
        Assert.Multiple(() =>
        {
            // Before the cap, ᾱ_t = f((t+1)/T)/f(0) exactly.
            Assert.That(s.AlphasCumprod[500], Is.EqualTo(F(501 / 1000.0) / F(0)).Within(1e-12));
            Assert.That(s.Betas[999], Is.EqualTo(0.999), "β capped at 0.999");
            Assert.That(s.Betas.ToArray(), Is.All.LessThanOrEqualTo(0.999));
        });
    }

    [TestCase(BetaSchedule.Sigmoid)]
    [TestCase(BetaSchedule.Quadratic)]
    [TestCase(BetaSchedule.Exponential)]
    [TestCase(BetaSchedule.ScaledLinear)]
    public void InterpolatingSchedulesStartAndEndAtTheirBetasAndIncrease(BetaSchedule kind)
    {
        var betas = BetaSchedules.Create(kind, 1000, 1e-4, 0.02);
        Assert.Multiple(() =>
        {
            Assert.That(betas[0], Is.EqualTo(kind == BetaSchedule.Sigmoid ? 1e-4 + (0.02 - 1e-4) / (1 + Math.Exp(6)) : 1e-4).Within(1e-12));
            Assert.That(betas[999], Is.EqualTo(kind == BetaSchedule.Sigmoid ? 1e-4 + (0.02 - 1e-4) / (1 + Math.Exp(-6)) : 0.02).Within(1e-12));
            Assert.That(betas, Is.Ordered.Ascending);
        });
    }

    [Test]
    public void QuadraticAndExponentialHaveTheirShapes()
    {
        var quadratic = BetaSchedules.Create(BetaSchedule.Quadratic, 3, 0.01, 0.05);
        var exponential = BetaSchedules.Create(BetaSchedule.Exponential, 3, 0.01, 0.04);
        Assert.That(quadratic[1], Is.EqualTo(0.01 + 0.25 * 0.04).Within(1e-15));
        Assert.That(exponential[1], Is.EqualTo(0.02).Within(1e-15), "geometric midpoint");
    }

    [Test]
    public void ZeroTerminalSnrRescaleEndsAtZeroSnrAndKeepsTheFirstAlphaBar()
    {
        var plain = NoiseSchedule.FromConfig(new SchedulerConfig { BetaSchedule = BetaSchedule.ScaledLinear, BetaStart = 0.00085, BetaEnd = 0.012 });
        var rescaled = NoiseSchedule.FromConfig(new SchedulerConfig { BetaSchedule = BetaSchedule.ScaledLinear, BetaStart = 0.00085, BetaEnd = 0.012, RescaleBetasZeroSnr = true });
        Assert.Multiple(() =>
        {
            Assert.That(rescaled.AlphasCumprod[999], Is.EqualTo(0).Within(1e-15));
            Assert.That(rescaled.Snr[999], Is.EqualTo(0).Within(1e-12));
            Assert.That(rescaled.AlphasCumprod[0], Is.EqualTo(plain.AlphasCumprod[0]).Within(1e-12));
        });
    }

    [Test]
    public void TrainedBetasReplaceTheSchedule()
    {
        var s = NoiseSchedule.FromConfig(new SchedulerConfig { NumTrainTimesteps = 3, TrainedBetas = [0.1, 0.2, 0.3] });
        Assert.That(s.AlphasCumprod[2], Is.EqualTo(0.9 * 0.8 * 0.7).Within(1e-15));
    }

    [TestCase(TimestepSpacing.Leading, 10, 1, new double[] { 901, 801, 701, 601, 501, 401, 301, 201, 101, 1 })]
    [TestCase(TimestepSpacing.Trailing, 10, 0, new double[] { 999, 899, 799, 699, 599, 499, 399, 299, 199, 99 })]
    [TestCase(TimestepSpacing.Linspace, 10, 0, new double[] { 999, 888, 777, 666, 555, 444, 333, 222, 111, 0 })]
    [TestCase(TimestepSpacing.Trailing, 7, 0, new double[] { 999, 856, 713, 570, 428, 285, 142 })]
    [TestCase(TimestepSpacing.Linspace, 4, 0, new double[] { 999, 666, 333, 0 })]
    public void TimestepSpacingsMatchTheirDefinitions(TimestepSpacing spacing, int steps, int offset, double[] expected) =>
        Assert.That(TimestepSpacings.Create(spacing, 1000, steps, offset), Is.EqualTo(expected));

    [Test]
    public void KarrasSigmasFollowEquationFive()
    {
        var sigmas = SigmaMath.Karras(0.002, 80, 5);
        Assert.Multiple(() =>
        {
            Assert.That(sigmas[0], Is.EqualTo(80).Within(1e-9));
            Assert.That(sigmas[4], Is.EqualTo(0.002).Within(1e-12));
            var expected = Math.Pow(Math.Pow(80, 1 / 7.0) + 0.5 * (Math.Pow(0.002, 1 / 7.0) - Math.Pow(80, 1 / 7.0)), 7);
            Assert.That(sigmas[2], Is.EqualTo(expected).Within(1e-12));
        });
    }

    [Test]
    public void SigmaToTimestepInvertsTheTrainingSigmas()
    {
        var s = Linear;
        var logSigmas = SigmaMath.LogSigmas(s);
        Assert.Multiple(() =>
        {
            foreach (var t in new[] { 0, 1, 17, 500, 998, 999 })
                Assert.That(SigmaMath.SigmaToTimestep(s.Sigmas[t], logSigmas), Is.EqualTo(t).Within(1e-9));
            var between = Math.Exp(0.5 * (logSigmas[300] + logSigmas[301]));
            Assert.That(SigmaMath.SigmaToTimestep(between, logSigmas), Is.EqualTo(300.5).Within(1e-9));
        });
    }
}
