using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Numerics;

/// <summary>
/// Every prediction-type conversion against its formula evaluated in double from the same float32 inputs, at noise
/// levels from nearly clean to nearly pure noise (ᾱ = 0.9999 … 0.0005), to a few float32 units of the terms' size.
/// </summary>
[TestFixture]
public sealed class PredictionMathExactTests
{
    private const int N = 41;

    public static IEnumerable<double> AlphaBars() => [0.9999, 0.93, 0.5, 0.07, 0.0005];

    private static float[] Draw(ulong seed)
    {
        var values = new float[N];
        new TorchGaussianNoise(seed).NextGaussian(values);
        return values;
    }

    private static void AssertClose(float[] actual, Func<int, double> expected, Func<int, double> magnitude, string what)
    {
        for (var i = 0; i < N; i++)
            Assert.That(actual[i], Is.EqualTo(expected(i)).Within(4 * 1.2e-7 * magnitude(i)), $"{what}: element {i}");
    }

    [TestCaseSource(nameof(AlphaBars))]
    public void ConversionsAreTheirFormulas(double alphaBar)
    {
        double a = Math.Sqrt(alphaBar), s = Math.Sqrt(1 - alphaBar);
        // The conversions round α and σ to float32 first, as the samplers' arithmetic does.
        double af = (float)a, sf = (float)s;
        var (m, x) = (Draw(1), Draw(2));
        var got = new float[N];

        PredictionMath.ToSample(PredictionType.Epsilon, m, x, a, s, got);
        AssertClose(got, i => (x[i] - sf * m[i]) / af, i => (Math.Abs(x[i]) + Math.Abs(sf * m[i])) / af, $"ᾱ = {alphaBar}: x₀ from ε");
        PredictionMath.ToSample(PredictionType.VPrediction, m, x, a, s, got);
        AssertClose(got, i => af * x[i] - sf * m[i], i => Math.Abs(af * x[i]) + Math.Abs(sf * m[i]), "x₀ from v");
        PredictionMath.ToSample(PredictionType.Sample, m, x, a, s, got);
        Assert.That(got, Is.EqualTo(m), "x₀ from x₀");

        PredictionMath.ToEpsilon(PredictionType.Sample, m, x, a, s, got);
        AssertClose(got, i => (x[i] - af * m[i]) / sf, i => (Math.Abs(x[i]) + Math.Abs(af * m[i])) / sf, "ε from x₀");
        PredictionMath.ToEpsilon(PredictionType.VPrediction, m, x, a, s, got);
        AssertClose(got, i => af * m[i] + sf * x[i], i => Math.Abs(af * m[i]) + Math.Abs(sf * x[i]), "ε from v");
        PredictionMath.ToEpsilon(PredictionType.Epsilon, m, x, a, s, got);
        Assert.That(got, Is.EqualTo(m), "ε from ε");

        PredictionMath.ToVelocity(m, x, a, s, got);
        AssertClose(got, i => af * m[i] - sf * x[i], i => Math.Abs(af * m[i]) + Math.Abs(sf * x[i]), "v from ε and x₀");
        PredictionMath.EpsilonToVelocity(m, x, a, s, got);
        AssertClose(got, i => (m[i] - sf * x[i]) / af, i => (Math.Abs(m[i]) + Math.Abs(sf * x[i])) / af, "v from ε and x_t");
    }

    [Test]
    public void CombinationsOfTwoToFiveTermsAreTheirSums()
    {
        var (p, q, r, u, w) = (Draw(3), Draw(4), Draw(5), Draw(6), Draw(7));
        var got = new float[N];
        const float A = 0.3f, B = -1.7f, C = 2.25f, D = -0.05f, E = 1.5f;
        Func<int, double> Mag(params (float k, float[] v)[] terms) => i => terms.Sum(t => Math.Abs(t.k * t.v[i])) + 1e-30;

        PredictionMath.Combine(A, p, B, q, got);
        AssertClose(got, i => A * (double)p[i] + B * (double)q[i], Mag((A, p), (B, q)), "two terms");
        PredictionMath.Combine(A, p, B, q, C, r, got);
        AssertClose(got, i => A * (double)p[i] + B * (double)q[i] + C * (double)r[i], Mag((A, p), (B, q), (C, r)), "three terms");
        PredictionMath.Combine(A, p, B, q, C, r, D, u, got);
        AssertClose(got, i => A * (double)p[i] + B * (double)q[i] + C * (double)r[i] + D * (double)u[i], Mag((A, p), (B, q), (C, r), (D, u)), "four terms");
        PredictionMath.Combine(A, p, B, q, C, r, D, u, E, w, got);
        AssertClose(got, i => A * (double)p[i] + B * (double)q[i] + C * (double)r[i] + D * (double)u[i] + E * (double)w[i], Mag((A, p), (B, q), (C, r), (D, u), (E, w)), "five terms");
    }
}
