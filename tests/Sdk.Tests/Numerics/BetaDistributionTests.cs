using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Numerics;

/// <summary>
/// The Beta quantile behind <c>use_beta_sigmas</c>: exact where the distribution has a closed form, and equal to the
/// reference's (SciPy's <c>beta.ppf</c>) elsewhere, near both ends included.
/// </summary>
[TestFixture]
public sealed class BetaDistributionTests
{
    private static readonly double[] Probabilities = [1e-12, 1e-9, 1e-6, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.95, 0.99, 1 - 1e-3, 1 - 1e-6, 1 - 1e-9];

    // Beta(a, 1): F(x) = x^a, so the quantile is p^(1/a). Beta(1, b): 1 − (1 − p)^(1/b). Where the density is small, a
    // quantile is only as sharp as p itself (about 1e-16) divided by the density: that much is allowed on top of 1e-13.
    [TestCase(0.6)]
    [TestCase(1.0)]
    [TestCase(2.5)]
    [TestCase(0.2)]
    public void ClosedFormsAreMetToTheConditioningOfTheProblem(double shape)
    {
        foreach (var p in Probabilities)
        {
            var lower = Math.Pow(p, 1 / shape);
            var lowerDensity = shape * Math.Pow(lower, shape - 1);
            Assert.That(BetaDistribution.Quantile(p, shape, 1), Is.EqualTo(lower).Within(1e-13 + 1e-12 * lower + 2e-16 / lowerDensity), $"Beta({shape}, 1) at {p}");
            var upper = 1 - Math.Pow(1 - p, 1 / shape);
            var upperDensity = shape * Math.Pow(1 - upper, shape - 1);
            Assert.That(BetaDistribution.Quantile(p, 1, shape), Is.EqualTo(upper).Within(1e-13 + 1e-12 * upper + 2e-16 / upperDensity), $"Beta(1, {shape}) at {p}");
        }
    }

    // tools/reference-trajectories/beta_quantiles.py: SciPy's scipy.stats.beta.ppf, which the reference calls.
    [Test]
    public void MatchesTheReferencesQuantileFunction()
    {
        using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllText(TestData.Path("reference", "beta-quantiles.json")));
        var cases = document.RootElement.GetProperty("cases").EnumerateArray().ToArray();
        Assert.That(cases, Has.Length.GreaterThan(100));
        Assert.Multiple(() =>
        {
            foreach (var c in cases)
            {
                var (alpha, beta, p, expected) = (c.GetProperty("alpha").GetDouble(), c.GetProperty("beta").GetDouble(), c.GetProperty("p").GetDouble(), c.GetProperty("quantile").GetDouble());
                Assert.That(BetaDistribution.Quantile(p, alpha, beta), Is.EqualTo(expected).Within(1e-12 + 1e-10 * expected), $"Beta({alpha}, {beta}) at {p}");
            }
        });
    }

    [Test]
    public void SymmetricShapesGiveSymmetricQuantiles()
    {
        foreach (var p in Probabilities)
            Assert.That(BetaDistribution.Quantile(p, 0.6, 0.6) + BetaDistribution.Quantile(1 - p, 0.6, 0.6), Is.EqualTo(1).Within(1e-12), $"{p}");
    }

    [Test]
    public void LogGammaMeetsKnownValues()
    {
        Assert.Multiple(() =>
        {
            Assert.That(BetaDistribution.LogGamma(1), Is.EqualTo(0).Within(1e-14));
            Assert.That(BetaDistribution.LogGamma(0.5), Is.EqualTo(0.5 * Math.Log(Math.PI)).Within(1e-14));
            Assert.That(BetaDistribution.LogGamma(10), Is.EqualTo(Math.Log(362880)).Within(1e-12));
            Assert.That(BetaDistribution.LogGamma(1.5), Is.EqualTo(Math.Log(0.5 * Math.Sqrt(Math.PI))).Within(1e-14));
        });
    }

    [TestCase(0, 0.6, 0.6)]
    [TestCase(-0.1, 0.6, 0.6)]
    [TestCase(double.NaN, 0.6, 0.6)]
    [TestCase(0.5, 0, 0.6)]
    [TestCase(0.5, 0.6, double.NaN)]
    public void OutOfRangeArgumentsAreRefused(double p, double alpha, double beta)
    {
        if (p == 0) { Assert.That(BetaDistribution.Quantile(p, alpha, beta), Is.Zero); return; }
        Assert.Throws<ArgumentOutOfRangeException>(() => BetaDistribution.Quantile(p, alpha, beta));
    }
}
