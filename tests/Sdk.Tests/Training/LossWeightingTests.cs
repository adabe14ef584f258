using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Training;

namespace Diffusion.Sdk.Tests.Training;

[TestFixture]
public sealed class LossWeightingTests
{
    // β = 0.1, 0.2, 0.3 → α = 0.9, 0.8, 0.7; ᾱ = 0.9, 0.72, 0.504; SNR = 9, 18/7, 63/62;
    // β̃_1 = 0.2·0.1/0.28 = 1/14, β̃_2 = 0.3·0.28/0.496.
    private static NoiseSchedule Small => new([0.1, 0.2, 0.3]);

    private static NoiseSchedule Linear => NoiseSchedule.FromConfig(new SchedulerConfig());

    [Test]
    public void UniformIsOneEverywhere() =>
        Assert.That(LossWeighting.Uniform.Weights(Linear), Is.All.EqualTo(1.0));

    // w_t = β_t²/(2β̃_t α_t (1−ᾱ_t)), worked by hand; t = 0 uses β̃_1 = 1/14.
    [TestCase(0, 0.01 / (2.0 / 14 * 0.9 * 0.1))]     // = 7/9
    [TestCase(1, 0.04 / (2.0 / 14 * 0.8 * 0.28))]    // = 1.25
    [TestCase(2, 0.09 / (2 * (0.3 * 0.28 / 0.496) * 0.7 * 0.496))] // = 0.3/0.392
    public void VariationalBoundMatchesHandValues(int t, double expected)
    {
        Assert.That(LossWeighting.VariationalBound.Weight(Small, t), Is.EqualTo(expected).Within(1e-12));
        Assert.That(expected, Is.EqualTo(new[] { 7.0 / 9, 1.25, 0.3 / 0.392 }[t]).Within(1e-12), "the hand value itself");
    }

    [Test]
    public void VariationalBoundSimplifiesToBetaOverTwoAlphaOneMinusPreviousAlphaBar()
    {
        // With β̃_t = β_t(1−ᾱ_{t−1})/(1−ᾱ_t) the weight is β_t/(2α_t(1−ᾱ_{t−1})) for t ≥ 1.
        var s = Linear;
        var w = LossWeighting.VariationalBound.Weights(s);
        for (var t = 1; t < s.NumTrainTimesteps; t++)
        {
            var expected = s.Betas[t] / (2 * s.Alphas[t] * (1 - s.AlphasCumprodPrev[t]));
            Assert.That(w[t], Is.EqualTo(expected).Within(1e-9 * expected), $"t = {t}");
        }
    }

    [Test]
    public void VariationalBoundIsHalfTheSnrDropOverTheStep()
    {
        // Kingma et al. 2021 (VDM): the discrete VLB term is ½(SNR_{t−1} − SNR_t)‖x_0 − x̂_0‖², and
        // ‖x_0 − x̂_0‖² = ‖ε − ε̂‖²/SNR_t, so w_t = ½(SNR_{t−1}/SNR_t − 1).
        var s = NoiseSchedule.FromConfig(new SchedulerConfig { BetaSchedule = BetaSchedule.SquaredCosCapV2 });
        var w = LossWeighting.VariationalBound.Weights(s);
        for (var t = 1; t < s.NumTrainTimesteps; t += 7)
        {
            var expected = 0.5 * (s.Snr[t - 1] / s.Snr[t] - 1);
            Assert.That(w[t], Is.EqualTo(expected).Within(1e-7 * expected), $"t = {t}");
        }
    }

    [TestCase(5.0, 0, 5.0 / 9)]
    [TestCase(5.0, 1, 1.0)]
    [TestCase(5.0, 2, 1.0)]
    [TestCase(2.0, 0, 2.0 / 9)]
    [TestCase(2.0, 1, 2.0 / (18.0 / 7))]   // = 7/9
    [TestCase(2.0, 2, 1.0)]
    public void MinSnrMatchesHandValues(double gamma, int t, double expected) =>
        Assert.That(LossWeighting.MinSnr(gamma).Weight(Small, t), Is.EqualTo(expected).Within(1e-12));

    [TestCase(1.0, 1.0, 0, 0.1)]           // 1/(1 + 9)
    [TestCase(1.0, 1.0, 1, 7.0 / 25)]      // 1/(1 + 18/7)
    [TestCase(1.0, 1.0, 2, 62.0 / 125)]    // 1/(1 + 63/62)
    [TestCase(0.5, 1.0, 0, 0.31622776601683794)] // 1/√10
    [TestCase(1.0, 2.0, 1, 7.0 / 32)]      // 1/(2 + 18/7)
    public void P2MatchesHandValues(double gamma, double k, int t, double expected) =>
        Assert.That(LossWeighting.P2(gamma, k).Weight(Small, t), Is.EqualTo(expected).Within(1e-12));

    [Test]
    public void P2WithUnitParametersIsOneMinusAlphaBar()
    {
        // 1/(1 + ᾱ/(1−ᾱ)) = 1 − ᾱ.
        var s = Linear;
        var w = LossWeighting.P2().Weights(s);
        for (var t = 0; t < s.NumTrainTimesteps; t += 37) Assert.That(w[t], Is.EqualTo(1 - s.AlphasCumprod[t]).Within(1e-12));
    }

    [Test]
    public void ZeroTerminalSnrHasDefinedEndpoints()
    {
        var s = NoiseSchedule.FromConfig(new SchedulerConfig { BetaSchedule = BetaSchedule.ScaledLinear, BetaStart = 0.00085, BetaEnd = 0.012, RescaleBetasZeroSnr = true });
        var last = s.NumTrainTimesteps - 1;
        Assert.Multiple(() =>
        {
            Assert.That(s.Snr[last], Is.Zero);
            Assert.That(LossWeighting.MinSnr().Weight(s, last), Is.EqualTo(1), "limit of min(SNR, γ)/SNR as SNR → 0");
            Assert.That(LossWeighting.P2().Weight(s, last), Is.EqualTo(1), "1/(k + 0)^γ with k = 1");
            Assert.That(LossWeighting.VariationalBound.Weight(s, last), Is.EqualTo(double.PositiveInfinity), "α_t = 0 at the last step");
        });
    }

    [Test]
    public void MinSnrOnlyDownWeightsHighSnr()
    {
        var s = Linear;
        var w = LossWeighting.MinSnr(5).Weights(s);
        for (var t = 0; t < s.NumTrainTimesteps; t++)
        {
            if (s.Snr[t] <= 5) Assert.That(w[t], Is.EqualTo(1), $"t = {t}");
            else Assert.That(w[t], Is.EqualTo(5 / s.Snr[t]).Within(1e-15));
        }
    }

    [Test]
    public void InvalidParametersAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LossWeighting.MinSnr(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => LossWeighting.P2(k: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => LossWeighting.P2(gamma: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => LossWeighting.Uniform.Weight(Small, 3));
        Assert.Throws<ArgumentException>(() => LossWeighting.VariationalBound.Weight(new NoiseSchedule([0.5]), 0));
    }

    [Test]
    public void LabelsNameTheWeighting() => Assert.Multiple(() =>
    {
        Assert.That(LossWeighting.MinSnr().ToString(), Is.EqualTo("min-SNR-5"));
        Assert.That(LossWeighting.P2(0.5).ToString(), Is.EqualTo("P2(k=1, γ=0.5)"));
        Assert.That(LossWeighting.VariationalBound.ToString(), Is.EqualTo("VLB"));
    });
}
