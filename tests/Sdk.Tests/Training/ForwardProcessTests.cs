using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Training;

namespace Diffusion.Sdk.Tests.Training;

[TestFixture]
public sealed class ForwardProcessTests
{
    private static NoiseSchedule Linear => NoiseSchedule.FromConfig(new SchedulerConfig());

    [Test]
    public void QSampleIsTheClosedFormJump()
    {
        var s = Linear;
        var x0 = Gaussian(64, seed: 1);
        var eps = Gaussian(64, seed: 2);
        var xt = new float[64];
        foreach (var t in new[] { 0, 1, 500, 999 })
        {
            ForwardProcess.QSample(s, t, x0, eps, xt);
            for (var i = 0; i < xt.Length; i++)
                Assert.That(xt[i], Is.EqualTo(s.SqrtAlphasCumprod[t] * x0[i] + s.SqrtOneMinusAlphasCumprod[t] * eps[i]).Within(1e-6), $"t = {t}, i = {i}");
        }
    }

    [Test]
    public void StepIsOneForwardTransition()
    {
        var s = Linear;
        var previous = Gaussian(32, seed: 3);
        var eps = Gaussian(32, seed: 4);
        var xt = new float[32];
        ForwardProcess.Step(s, 400, previous, eps, xt);
        for (var i = 0; i < xt.Length; i++)
            Assert.That(xt[i], Is.EqualTo(Math.Sqrt(s.Alphas[400]) * previous[i] + Math.Sqrt(s.Betas[400]) * eps[i]).Within(1e-6));
    }

    [Test]
    public void SequentialSampleAppliesTheStepsInOrderWithFreshNoise()
    {
        var s = Linear;
        var x0 = Gaussian(40, seed: 5);
        var viaMethod = new float[40];
        ForwardProcess.SequentialSample(s, 25, x0, new TorchGaussianNoise(7), viaMethod, new float[40]);

        var noise = new TorchGaussianNoise(7);
        var byHand = x0.ToArray();
        var eps = new float[40];
        for (var t = 0; t <= 25; t++)
        {
            noise.NextGaussian(eps);
            ForwardProcess.Step(s, t, byHand, eps, byHand);
        }
        Assert.That(viaMethod, Is.EqualTo(byHand));
    }

    [Test]
    public void AtTheFirstTimestepTheJumpAndTheChainAreTheSameFormula()
    {
        // ᾱ_0 = α_0 and 1 − ᾱ_0 = β_0: one step of the chain is the jump to t = 0.
        var s = Linear;
        var x0 = Gaussian(48, seed: 8);
        var chain = new float[48];
        ForwardProcess.SequentialSample(s, 0, x0, new TorchGaussianNoise(9), chain, new float[48]);
        var jump = new float[48];
        ForwardProcess.QSample(s, 0, x0, Gaussian(48, seed: 9), jump);
        Assert.That(chain, Is.EqualTo(jump).Within(1e-7));
    }

    /// <summary>
    /// The jump q(x_t | x_0) and the chain of q(x_s | x_{s−1}) for s = 0 … t give the same Gaussian: for a fixed x_0,
    /// x_t − √ᾱ_t·x_0 has mean 0 and variance 1 − ᾱ_t, and x_t regresses on x_0 with slope √ᾱ_t. Checked over
    /// 16,384 independent draws (one per element, each with its own x_0) at several t, to five standard errors.
    /// </summary>
    [Test]
    public void JumpAndSequentialChainAgreeInDistribution()
    {
        const int n = 1 << 14;
        var s = Linear;
        var x0 = Gaussian(n, seed: 11);
        for (var i = 0; i < n; i++) x0[i] = 0.5f + x0[i];   // data ~ N(0.5, 1)

        var checkpoints = new[] { 0, 9, 99, 499, 999 };
        var chain = x0.ToArray();
        var eps = new float[n];
        var chainNoise = new TorchGaussianNoise(12);
        var jumpNoise = new TorchGaussianNoise(13);
        var jump = new float[n];
        var next = 0;
        for (var t = 0; t <= checkpoints[^1]; t++)
        {
            chainNoise.NextGaussian(eps);
            ForwardProcess.Step(s, t, chain, eps, chain);
            if (t != checkpoints[next]) continue;
            next++;

            jumpNoise.NextGaussian(eps);
            ForwardProcess.QSample(s, t, x0, eps, jump);

            var a = s.SqrtAlphasCumprod[t];
            var variance = 1 - s.AlphasCumprod[t];
            var (jumpMean, jumpVariance, jumpSlope) = Moments(jump, x0, a);
            var (chainMean, chainVariance, chainSlope) = Moments(chain, x0, a);
            var meanTolerance = 5 * Math.Sqrt(variance / n);
            var varianceTolerance = 5 * variance * Math.Sqrt(2.0 / n);
            var slopeTolerance = 5 * Math.Sqrt(variance / n);   // Var(x_0) ≈ 1
            TestContext.Out.WriteLine($"t={t,3}: residual mean jump {jumpMean:E2} chain {chainMean:E2}; variance 1−ᾱ={variance:G5} jump {jumpVariance:G5} chain {chainVariance:G5}; slope √ᾱ={a:G5} jump {jumpSlope:G5} chain {chainSlope:G5}");
            Assert.Multiple(() =>
            {
                Assert.That(jumpMean, Is.EqualTo(0).Within(meanTolerance), $"jump mean at t = {t}");
                Assert.That(chainMean, Is.EqualTo(0).Within(meanTolerance), $"chain mean at t = {t}");
                Assert.That(jumpVariance, Is.EqualTo(variance).Within(varianceTolerance), $"jump variance at t = {t}");
                Assert.That(chainVariance, Is.EqualTo(variance).Within(varianceTolerance), $"chain variance at t = {t}");
                Assert.That(chainMean - jumpMean, Is.EqualTo(0).Within(meanTolerance * Math.Sqrt(2)), $"means agree at t = {t}");
                Assert.That(chainVariance - jumpVariance, Is.EqualTo(0).Within(varianceTolerance * Math.Sqrt(2)), $"variances agree at t = {t}");
                Assert.That(jumpSlope, Is.EqualTo(a).Within(slopeTolerance), $"jump slope at t = {t}");
                Assert.That(chainSlope, Is.EqualTo(a).Within(slopeTolerance), $"chain slope at t = {t}");
            });
        }
        Assert.That(next, Is.EqualTo(checkpoints.Length));
    }

    [Test]
    public void ArgumentsAreChecked()
    {
        var s = Linear;
        Assert.Throws<ArgumentOutOfRangeException>(() => ForwardProcess.QSample(s, 1000, new float[4], new float[4], new float[4]));
        Assert.Throws<ArgumentException>(() => ForwardProcess.QSample(s, 0, new float[4], new float[3], new float[4]));
        var buffer = new float[8];
        Assert.Throws<ArgumentException>(() => ForwardProcess.SequentialSample(s, 3, new float[8], new TorchGaussianNoise(0), buffer, buffer));
    }

    // Mean and variance of the residual x_t − a·x_0, and the least-squares slope of x_t on x_0, in double.
    private static (double Mean, double Variance, double Slope) Moments(float[] xt, float[] x0, double a)
    {
        double sum = 0, sumSq = 0, mx = 0, my = 0;
        for (var i = 0; i < xt.Length; i++)
        {
            var r = xt[i] - a * x0[i];
            sum += r;
            sumSq += r * r;
            mx += x0[i];
            my += xt[i];
        }
        var n = (double)xt.Length;
        var mean = sum / n;
        mx /= n;
        my /= n;
        double cov = 0, varX = 0;
        for (var i = 0; i < xt.Length; i++)
        {
            cov += (x0[i] - mx) * (xt[i] - my);
            varX += (x0[i] - mx) * (x0[i] - mx);
        }
        return (mean, sumSq / n - mean * mean, cov / varX);
    }

    private static float[] Gaussian(int count, ulong seed)
    {
        var values = new float[count];
        new TorchGaussianNoise(seed).NextGaussian(values);
        return values;
    }
}
