using System.Text.Json.Nodes;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Noise;

/// <summary>
/// torchsde's Brownian tree, as DPM-Solver SDE's noise sampler queries it, against increments recorded by running
/// torchsde's BrownianInterval (halfway tree, tolerance 10⁻⁶, pool 24) under Debian's torch (TestData/brownian, with the
/// recording script's description), and numpy's SeedSequence against numpy's own words.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class BrownianTreeNoiseTests
{
    [Test]
    public void SeedSequenceGivesNumpysWords()
    {
        Assert.Multiple(() =>
        {
            Assert.That(NumpySeedSequence.GenerateState(42, [], 24, 3), Is.EqualTo(new uint[] { 387750627, 2536650517, 4078839648 }));
            Assert.That(NumpySeedSequence.GenerateState(42, [1, 1], 24, 4), Is.EqualTo(new uint[] { 1058881542, 1039740124, 2218853409, 2234354429 }));
            Assert.That(NumpySeedSequence.GenerateState(12345678901234, [5, 3], 24, 4), Is.EqualTo(new uint[] { 1934182032, 3514538631, 2989841709, 3108050942 }));
        });
    }

    public static IEnumerable<TestCaseData> Cases()
    {
        var root = JsonNode.Parse(File.ReadAllText(TestData.Path("brownian", "brownian-tree.json")))!;
        foreach (var c in root["cases"]!.AsArray())
            yield return new TestCaseData(c!.ToJsonString()).SetName($"Brownian tree seed {c["seed"]}");
    }

    /// <summary>Every query of a DPM-Solver SDE run ((σ_i, midpoint), then (σ_i, σ_{i+1})) returns the reference's noise, bit for bit.</summary>
    [TestCaseSource(nameof(Cases))]
    public void IncrementsEqualTorchsdesBitForBit(string json)
    {
        var c = JsonNode.Parse(json)!;
        var length = c["shape"]!.AsArray().Aggregate(1, (n, d) => n * d!.GetValue<int>());
        var tree = new BrownianTreeNoise(length, c["sigma_min"]!.GetValue<double>(), c["sigma_max"]!.GetValue<double>(), (ulong)c["seed"]!.GetValue<long>());
        var queries = c["queries"]!.AsArray();
        var noise = c["noise"]!.AsArray();
        var z = new float[length];
        for (var k = 0; k < queries.Count; k++)
        {
            tree.StandardNormal((float)queries[k]![0]!.GetValue<double>(), (float)queries[k]![1]!.GetValue<double>(), z);
            Assert.That(z, Is.EqualTo(noise[k]!.AsArray().Select(v => (float)v!.GetValue<double>()).ToArray()), $"query {k}");
        }
    }

    /// <summary>The increment over [a, c] is the sum of those over [a, b] and [b, c], in any query order (the Brownian property).</summary>
    [Test]
    public void IncrementsAddUpAcrossOverlappingQueries()
    {
        var tree = new BrownianTreeNoise(16, 0.03, 14.6, 7);
        float[] whole = new float[16], left = new float[16], right = new float[16];
        tree.Increment(0.7, 2.5, right);
        tree.Increment(0.1, 0.7, left);
        tree.Increment(0.1, 2.5, whole);
        for (var i = 0; i < 16; i++) Assert.That(whole[i], Is.EqualTo(left[i] + right[i]).Within(1e-5), $"component {i}");
    }

    /// <summary>With noise_sampler_seed the sampler draws from its own tree: the noise source it is given does not matter.</summary>
    [Test]
    public void ASeededDpmSolverSdeRunIgnoresTheGivenNoiseSource()
    {
        float[] Run(ulong noiseSeed)
        {
            var sampler = TestHost.Factory.Create(SamplerNames.DpmSolverSde, new SchedulerConfig { NoiseSamplerSeed = 1234 });
            sampler.SetTimesteps(8);
            var x = new float[32];
            new TorchGaussianNoise(5).NextGaussian(x);
            for (var i = 0; i < x.Length; i++) x[i] *= (float)sampler.InitNoiseSigma;
            var source = new TorchGaussianNoise(noiseSeed);
            var output = new float[32];
            foreach (var t in sampler.Timesteps)
            {
                for (var i = 0; i < x.Length; i++) output[i] = 0.1f * x[i];
                sampler.Step(new StepInput(output, t, x, 1), new StepOutput(x), source);
            }
            return x;
        }
        Assert.That(Run(1), Is.EqualTo(Run(2)));
    }
}
