using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// <see cref="SamplerBase"/>'s scratch buffers come from a shared pool and go back to it when a run ends: each run
/// still starts from zeroed buffers, whatever an earlier run (of this sampler or another) left in the memory, and a
/// buffer keeps its contents from one step of a run to the next.
/// </summary>
[TestFixture]
public sealed class ScratchBufferTests
{
    private const int Length = 4096;

    // Records, per step, whether its buffer was all zeros and whether it held what the previous step wrote; then
    // writes a step-specific value into all of it.
    private sealed class Probe(SchedulerConfig config) : SamplerBase("probe", config)
    {
        public List<(bool Zeroed, bool Kept)> Seen { get; } = [];

        protected override double[] CreateTimesteps(int numInferenceSteps) =>
            Enumerable.Range(0, numInferenceSteps).Select(i => 999.0 - i * 100).ToArray();

        protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
        {
            var buffer = Buffer(0, Length);
            var zeroed = !buffer.ContainsAnyExcept(0f);
            var kept = stepIndex > 0 && !buffer.ContainsAnyExcept(stepIndex + 0.5f);
            Seen.Add((zeroed, kept));
            buffer.Fill(stepIndex + 1.5f);
            input.Sample.CopyTo(output.PrevSample);
            return false;
        }
    }

    private static void Run(Probe sampler, int steps, int stopAfter = int.MaxValue)
    {
        sampler.SetTimesteps(steps);
        var sample = new float[8];
        var noise = new TorchGaussianNoise(1);
        for (var k = 0; k < Math.Min(steps, stopAfter); k++)
            sampler.Step(new StepInput(sample, sampler.Timesteps[k], sample, 1), new StepOutput(sample), noise);
    }

    [Test]
    public void EveryRunStartsFromZeroedBuffersThatLastThroughTheRun()
    {
        for (var run = 0; run < 4; run++)
        {
            var sampler = new Probe(new SchedulerConfig());
            Run(sampler, 3);
            Assert.That(sampler.Seen, Is.EqualTo(new[] { (true, false), (false, true), (false, true) }), $"run {run}");
        }
    }

    [Test]
    public void SettingTimestepsPartWayStartsAgainFromZeroedBuffers()
    {
        var sampler = new Probe(new SchedulerConfig());
        Run(sampler, 4, stopAfter: 2);
        Run(sampler, 2);
        Assert.That(sampler.Seen, Is.EqualTo(new[] { (true, false), (false, true), (true, false), (false, true) }));
    }
}
