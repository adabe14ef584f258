using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// Steps are tracked by position in the timestep list, as the reference tracks its step index: a timestep that
/// repeats, or one a float32 unit from its neighbour (KDPM2's midpoints), or the float32 copy of a listed timestep
/// never refuses a run that follows the list; a timestep of another step still does.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class StepTrackingTests
{
    private const int N = 12;

    private static float[] Values(float scale) => Enumerable.Range(0, N).Select(i => MathF.Sin(i + 1) * scale).ToArray();

    // Every sampler, on schedules whose lists repeat values or hold near-equal neighbours, run with the float32 copies
    // of its own timesteps (what a caller holding a float32 tensor of them passes).
    public static IEnumerable<TestCaseData> Runs()
    {
        var kdpm = new SchedulerConfig { NumTrainTimesteps = 500, TimestepSpacing = TimestepSpacing.Trailing, StepsOffset = 1 };
        foreach (var name in new[] { "kdpm2-ancestral", "kdpm2", "heun" })
            foreach (var steps in new[] { 7, 18, 25 })
                yield return new TestCaseData(name, kdpm, steps).SetName($"{name}, 500 training steps, trailing, offset 1, {steps} steps");
        // With exponential or beta σ the σ-space samplers' timesteps are doubles that no float32 holds exactly.
        foreach (var name in new[] { "kdpm2-ancestral", "kdpm2", "heun", "euler", "lms" })
            foreach (var (key, exponential) in new[] { ("exponential", true), ("beta", false) })
                yield return new TestCaseData(name, new SchedulerConfig { NumTrainTimesteps = 500, TimestepSpacing = TimestepSpacing.Trailing, StepsOffset = 1,
                    UseExponentialSigmas = exponential, UseBetaSigmas = !exponential }, 18).SetName($"{name}, {key} σ, 500 training steps, trailing, offset 1, 18 steps");
        // Exponential σ truncate their timesteps, so neighbouring ones repeat at high step counts.
        foreach (var name in new[] { "dpm-solver", "unipc", "deis", "euler" })
            yield return new TestCaseData(name, new SchedulerConfig { UseExponentialSigmas = true, NumTrainTimesteps = 200 }, 60)
                .SetName($"{name}, exponential σ, 200 training steps, 60 steps");
        yield return new TestCaseData("ddpm", new SchedulerConfig(), 1000).SetName("ddpm, every training step");
    }

    [TestCaseSource(nameof(Runs))]
    public void ARunThatFollowsTheListWithFloat32TimestepsIsNeverRefused(string name, SchedulerConfig config, int steps)
    {
        var sampler = TestHost.Factory.Create(name, config);
        sampler.SetTimesteps(steps);
        var sample = Values(1);
        var output = Values(0.3f);
        var prev = new float[N];
        var noise = new TorchGaussianNoise(3);
        var input = new float[N];
        foreach (var t in sampler.Timesteps.ToArray())
        {
            var t32 = (double)(float)t;
            sampler.ScaleModelInput(sample, t32, input);
            Assert.DoesNotThrow(() => sampler.Step(new StepInput(output, t32, sample, 2), new StepOutput(prev), noise), $"t = {t}");
            (sample, prev) = (prev, sample);
        }
        Assert.That(sample.All(float.IsFinite), Is.True);
    }

    [Test]
    public void Float32TimestepsGiveTheSameStepsAsTheListedOnes()
    {
        var config = new SchedulerConfig { NumTrainTimesteps = 500, TimestepSpacing = TimestepSpacing.Trailing, StepsOffset = 1, BetaStart = 0.00085, BetaEnd = 0.012 };
        float[] Run(Func<double, double> passed)
        {
            var sampler = TestHost.Factory.Create("kdpm2", config);
            sampler.SetTimesteps(18);
            var sample = Values(2);
            var input = new float[N];
            foreach (var t in sampler.Timesteps.ToArray())
            {
                sampler.ScaleModelInput(sample, passed(t), input);
                var output = input.Select(v => MathF.Tanh(v)).ToArray();
                sampler.Step(new StepInput(output, passed(t), sample, 2), new StepOutput(sample), new TorchGaussianNoise(1));
            }
            return sample;
        }
        Assert.That(Run(t => (float)t), Is.EqualTo(Run(t => t)));
    }

    [Test]
    public void AStepThatIsNotTheNextOneIsStillRefusedAfterTheFirst()
    {
        var sampler = TestHost.Factory.Create("kdpm2-ancestral", new SchedulerConfig { NumTrainTimesteps = 500, TimestepSpacing = TimestepSpacing.Trailing, StepsOffset = 1 });
        sampler.SetTimesteps(18);
        var t = sampler.Timesteps;
        var prev = new float[N];
        sampler.Step(new StepInput(Values(0.3f), t[0], Values(1), 2), new StepOutput(prev), new TorchGaussianNoise(1));
        var e = Assert.Throws<SamplerStateException>(() => sampler.Step(new StepInput(Values(0.3f), t[5], Values(1), 2), new StepOutput(prev), new TorchGaussianNoise(1)))!;
        Assert.That(e.Message, Does.Contain("is not the next step"));
    }

    /// <summary>
    /// The reference's own DDPM test (<c>test_full_loop_with_noise</c>): the default linear schedule, all 1000
    /// timesteps, the ramp sample noised at the second-to-last timestep (1) and stepped from there with the model
    /// x·t/(t+1) and noise from <c>torch.manual_seed(0)</c>. Its result, Σ|x| = 387.9466 within 10⁻², holds only in
    /// float32: the same run with double coefficients gives 387.9672.
    /// </summary>
    [Test]
    public void DdpmReproducesTheReferencesFullLoopWithNoise()
    {
        var ddpm = TestHost.Factory.Create("ddpm", new SchedulerConfig { BetaStart = 0.0001, BetaEnd = 0.02, VarianceType = VarianceType.FixedSmall, ClipSample = true });
        ddpm.SetTimesteps(1000);
        var timesteps = ddpm.Timesteps.Skip(998).ToArray();
        Assert.That(timesteps, Is.EqualTo(new double[] { 1, 0 }));
        var sample = ReferenceSuiteTensors.Sample();
        ddpm.AddNoise(sample, ReferenceSuiteTensors.Noise(), [timesteps[0]], sample);
        var output = new float[sample.Length];
        var noise = new TorchGaussianNoise(0);
        foreach (var t in timesteps)
        {
            for (var i = 0; i < sample.Length; i++) output[i] = sample[i] * (float)t / ((float)t + 1);
            ddpm.Step(new StepInput(output, t, sample, ReferenceSuiteTensors.Batch), new StepOutput(sample), noise);
        }
        var sum = sample.Sum(v => (double)Math.Abs(v));
        Assert.Multiple(() =>
        {
            Assert.That(sum, Is.EqualTo(387.9466).Within(1e-2));
            Assert.That(sum / sample.Length, Is.EqualTo(0.5051).Within(1e-3));
        });
    }
}
