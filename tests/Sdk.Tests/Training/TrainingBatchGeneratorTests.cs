using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Training;

namespace Diffusion.Sdk.Tests.Training;

[TestFixture]
public sealed class TrainingBatchGeneratorTests
{
    private static NoiseSchedule Linear => NoiseSchedule.FromConfig(new SchedulerConfig());

    [Test]
    public void UniformSamplerCoversTheRangeEvenlyWithUnitLossScale()
    {
        var sampler = TimestepSampler.Uniform(10, seed: 1);
        var counts = new int[10];
        const int draws = 100_000;
        for (var i = 0; i < draws; i++) counts[sampler.Next()]++;
        // Binomial(100000, 0.1): standard deviation ≈ 95.
        Assert.That(counts, Is.All.InRange(10_000 - 500, 10_000 + 500));
        for (var t = 0; t < 10; t++) Assert.That(sampler.LossScale(t), Is.EqualTo(1).Within(1e-12));
    }

    [Test]
    public void WeightedSamplerFollowsItsWeightsAndNeverDrawsZeroWeight()
    {
        var sampler = TimestepSampler.Weighted([1, 0, 3, 0], seed: 2);
        var counts = new int[4];
        const int draws = 100_000;
        for (var i = 0; i < draws; i++) counts[sampler.Next()]++;
        Assert.Multiple(() =>
        {
            Assert.That(sampler.Probabilities.ToArray(), Is.EqualTo(new[] { 0.25, 0, 0.75, 0 }).Within(1e-15));
            Assert.That(counts[1] + counts[3], Is.Zero);
            Assert.That(counts[2] / (double)draws, Is.EqualTo(0.75).Within(5 * Math.Sqrt(0.75 * 0.25 / draws)));
            Assert.That(sampler.LossScale(0), Is.EqualTo(1.0).Within(1e-12), "1/(4·0.25)");
            Assert.That(sampler.LossScale(2), Is.EqualTo(1 / 3.0).Within(1e-12), "1/(4·0.75)");
        });
    }

    [Test]
    public void LossHistorySamplerFollowsTheSecondMomentRule()
    {
        // √m = 1, 2, 0, 3 (sum 6); p = 0.9·√m/6 + 0.1/4.
        var sampler = TimestepSampler.FromLossHistory([1, 4, 0, 9], seed: 3, uniformFraction: 0.1);
        Assert.That(sampler.Probabilities.ToArray(), Is.EqualTo(new[] { 0.175, 0.325, 0.025, 0.475 }).Within(1e-12));
    }

    [Test]
    public void ImportanceSampledLossIsUnbiasedForTheUniformAverage()
    {
        // Timesteps drawn ∝ the VLB weight (heavy at both ends), loss L_t = 1 − ᾱ_t: the scaled mean estimates (1/T)Σ L_t.
        var s = Linear;
        var sampler = TimestepSampler.FromLossWeighting(s, LossWeighting.VariationalBound, seed: 4);
        var exact = 0.0;
        for (var t = 0; t < s.NumTrainTimesteps; t++) exact += (1 - s.AlphasCumprod[t]) / s.NumTrainTimesteps;
        const int draws = 200_000;
        double sum = 0, sumSq = 0;
        for (var i = 0; i < draws; i++)
        {
            var t = sampler.Next();
            var value = sampler.LossScale(t) * (1 - s.AlphasCumprod[t]);
            sum += value;
            sumSq += value * value;
        }
        var mean = sum / draws;
        var standardError = Math.Sqrt((sumSq / draws - mean * mean) / draws);
        Assert.That(mean, Is.EqualTo(exact).Within(5 * standardError));
    }

    [Test]
    public void SameSeedSameTimesteps()
    {
        var a = new int[64];
        var b = new int[64];
        TimestepSampler.Uniform(1000, seed: 5).Next(a);
        TimestepSampler.Uniform(1000, seed: 5).Next(b);
        Assert.That(a, Is.EqualTo(b));
    }

    [Test]
    public void BatchHoldsTheForwardProcessOfEachExample()
    {
        var s = Linear;
        const int batch = 4, size = 24;
        var x0 = new float[batch * size];
        new TorchGaussianNoise(6).NextGaussian(x0);
        var generator = new TrainingBatchGenerator(s, TimestepSampler.Uniform(1000, seed: 7), new TorchGaussianNoise(8));
        var xt = new float[batch * size];
        var eps = new float[batch * size];
        var timesteps = new int[batch];
        var scales = new float[batch];
        generator.Next(x0, xt, eps, timesteps, scales);

        var expectedNoise = new float[batch * size];
        new TorchGaussianNoise(8).NextGaussian(expectedNoise);   // one randn call for the whole batch
        var expectedTimesteps = new int[batch];
        TimestepSampler.Uniform(1000, seed: 7).Next(expectedTimesteps);
        Assert.Multiple(() =>
        {
            Assert.That(eps, Is.EqualTo(expectedNoise));
            Assert.That(timesteps, Is.EqualTo(expectedTimesteps));
            Assert.That(scales, Is.All.EqualTo(1f));
            var expected = new float[size];
            for (var b = 0; b < batch; b++)
            {
                var range = new Range(b * size, (b + 1) * size);
                ForwardProcess.QSample(s, timesteps[b], x0.AsSpan(range), eps.AsSpan(range), expected);
                Assert.That(xt.AsSpan(range).ToArray(), Is.EqualTo(expected), $"example {b}");
            }
        });
    }

    [Test]
    public void MismatchedShapesAreRejected()
    {
        var generator = new TrainingBatchGenerator(Linear, TimestepSampler.Uniform(1000, 0), new TorchGaussianNoise(0));
        Assert.Throws<ArgumentException>(() => generator.Next(new float[10], new float[10], new float[10], new int[3]));
        Assert.Throws<ArgumentException>(() => generator.Next(new float[12], new float[12], new float[11], new int[3]));
        Assert.Throws<ArgumentException>(() => new TrainingBatchGenerator(Linear, TimestepSampler.Uniform(10, 0), new TorchGaussianNoise(0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => TimestepSampler.Weighted([1, double.PositiveInfinity], 0));
    }
}
