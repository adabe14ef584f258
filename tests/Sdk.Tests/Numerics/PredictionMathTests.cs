using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Numerics;

[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class PredictionMathTests
{
    private const int Count = 4096;

    /// <summary>
    /// ε → v → ε with the closed forms holds to float32 rounding at every t of a 1000-step linear schedule,
    /// t = 0…20 included (where √(1−ᾱ) ≈ 0.01 and a division by it would amplify rounding a hundredfold).
    /// </summary>
    [Test]
    public void EpsilonVelocityRoundTripHoldsToFloatRoundingAtEveryTimestep()
    {
        var schedule = NoiseSchedule.FromConfig(new SchedulerConfig());
        var (x0, eps) = (new float[Count], new float[Count]);
        var noise = new TorchGaussianNoise(42);
        noise.NextGaussian(x0);
        noise.NextGaussian(eps);
        var (xt, v, back) = (new float[Count], new float[Count], new float[Count]);
        var worst = 0.0;
        for (var t = 0; t < schedule.NumTrainTimesteps; t++)
        {
            double alpha = schedule.SqrtAlphasCumprod[t], sigma = schedule.SqrtOneMinusAlphasCumprod[t];
            PredictionMath.Combine((float)alpha, x0, (float)sigma, eps, xt);
            PredictionMath.EpsilonToVelocity(eps, xt, alpha, sigma, v);
            PredictionMath.ToEpsilon(PredictionType.VPrediction, v, xt, alpha, sigma, back);
            worst = Math.Max(worst, RelativeError(back, eps));
        }
        TestContext.Out.WriteLine($"worst relative error of ε → v → ε over t = 0…999: {worst:E2}");
        Assert.That(worst, Is.LessThanOrEqualTo(1e-6));
    }

    [TestCase(PredictionType.Epsilon)]
    [TestCase(PredictionType.Sample)]
    [TestCase(PredictionType.VPrediction)]
    public void EveryPredictionTypeConvertsToTheSameSampleAndNoise(PredictionType type)
    {
        const double alphaBar = 0.7;
        double alpha = Math.Sqrt(alphaBar), sigma = Math.Sqrt(1 - alphaBar);
        float[] x0 = [0.5f, -1f, 0.25f], eps = [1f, 0.3f, -2f];
        var xt = new float[3];
        PredictionMath.Combine((float)alpha, x0, (float)sigma, eps, xt);
        var output = type switch
        {
            PredictionType.Epsilon => eps,
            PredictionType.Sample => x0,
            _ => Enumerable.Range(0, 3).Select(i => (float)(alpha * eps[i] - sigma * x0[i])).ToArray(),
        };
        var (gotX0, gotEps) = (new float[3], new float[3]);
        PredictionMath.ToSample(type, output, xt, alpha, sigma, gotX0);
        PredictionMath.ToEpsilon(type, output, xt, alpha, sigma, gotEps);
        Assert.That(gotX0, Is.EqualTo(x0).Within(1e-6));
        Assert.That(gotEps, Is.EqualTo(eps).Within(1e-6));
    }

    private static double RelativeError(float[] actual, float[] expected)
    {
        double errorNorm = 0, norm = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            errorNorm += Math.Pow(actual[i] - expected[i], 2);
            norm += Math.Pow(expected[i], 2);
        }
        return Math.Sqrt(errorNorm / norm);
    }
}
