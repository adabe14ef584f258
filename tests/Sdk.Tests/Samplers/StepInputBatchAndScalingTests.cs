using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// Two contracts of a step (#28 item 9): a batch size left out of <see cref="StepInput"/> is "not stated", which a
/// per-item step (dynamic thresholding) refuses instead of taking eight items for one; and
/// <see cref="ISampler.ScalesModelInput"/> tells a loop when the network sees the sample itself, so that the loop skips
/// the call and its copy.
/// </summary>
[TestFixture]
public sealed class StepInputBatchAndScalingTests
{
    private const int Item = 16, Batch = 8;

    private static float[] Values(int n) => Enumerable.Range(0, n).Select(i => MathF.Sin(i + 1) * (i % 5 + 1)).ToArray();

    private static ISampler Thresholded(string name, bool wrapper)
    {
        var options = new SamplingOptions { Sampler = name, Thresholding = true, DynamicThresholdingRatio = 0.5, SampleMaxValue = 1.5 };
        var sampler = TestHost.Factory.Create(options, new SchedulerConfig { PredictionType = PredictionType.Sample });
        Assert.That(sampler is ThresholdingWrapper, Is.EqualTo(wrapper), "thresholding through the wrapper or natively, as asked");
        sampler.SetTimesteps(4);
        return sampler;
    }

    [TestCase(SamplerNames.Ddim, false)]
    [TestCase(SamplerNames.Euler, true)]
    public void APerItemStepWithoutABatchSizeIsRefused(string name, bool wrapper)
    {
        var sampler = Thresholded(name, wrapper);
        var x = Values(Batch * Item);
        var e = Assert.Throws<ArgumentException>(() =>
            sampler.Step(new StepInput(x, sampler.Timesteps[0], x), new StepOutput(new float[x.Length]), new TorchGaussianNoise(1)))!;
        Assert.That(e.Message, Does.Contain("thresholding").And.Contain("batchSize"));
        Assert.Throws<ArgumentException>(() =>
            sampler.Step(new StepInput(x, sampler.Timesteps[0], x, batchSize: 3), new StepOutput(new float[x.Length]), new TorchGaussianNoise(1)), "128 values are not 3 items");
    }

    /// <summary>Stated, the batch gives each item its own quantile: not what one item of the whole tensor gives.</summary>
    [Test]
    public void TheStatedBatchIsUsedPerItem()
    {
        var x = Values(Batch * Item);
        float[] Run(int batch)
        {
            var sampler = Thresholded(SamplerNames.Ddim, wrapper: false);
            var output = new float[x.Length];
            sampler.Step(new StepInput(x, sampler.Timesteps[0], x, batch), new StepOutput(output), new TorchGaussianNoise(1));
            return output;
        }
        Assert.That(Run(Batch), Is.Not.EqualTo(Run(1)));
    }

    [Test]
    public void AStepWithoutPerItemWorkNeedsNoBatchSize()
    {
        var sampler = TestHost.Factory.Create(SamplerNames.Ddim, new SchedulerConfig());
        sampler.SetTimesteps(3);
        var x = Values(Batch * Item);
        float[] stated = new float[x.Length], unstated = new float[x.Length];
        sampler.Step(new StepInput(x, sampler.Timesteps[0], x, Batch), new StepOutput(stated), new TorchGaussianNoise(1));
        sampler.SetTimesteps(3);
        sampler.Step(new StepInput(x, sampler.Timesteps[0], x), new StepOutput(unstated), new TorchGaussianNoise(1));
        Assert.That(unstated, Is.EqualTo(stated));
    }

    [TestCase(SamplerNames.Ddim, false)]
    [TestCase(SamplerNames.Ddpm, false)]
    [TestCase(SamplerNames.DpmSolver, false)]
    [TestCase(SamplerNames.Pndm, false)]
    [TestCase(SamplerNames.Lcm, false)]
    [TestCase(SamplerNames.FlowMatchEuler, false)]
    [TestCase(SamplerNames.Euler, true)]
    [TestCase(SamplerNames.Heun, true)]
    [TestCase(SamplerNames.EdmEuler, true)]
    [TestCase(SamplerNames.DpmAdaptive, true)]
    public void ScalesModelInputSaysWhetherTheNetworkSeesTheSampleItself(string name, bool scales)
    {
        var sampler = TestHost.Factory.Create(name, new SchedulerConfig());
        sampler.SetTimesteps(4);
        var t = sampler.Timesteps.Count > 1 ? sampler.Timesteps[1] : 500; // an adaptive sampler lists none
        Assert.That(sampler.ScalesModelInput(t), Is.EqualTo(scales));
        Assert.That(new TemperatureWrapper(sampler, 0.9).ScalesModelInput(t), Is.EqualTo(scales), "a wrapper answers for its sampler");
        if (scales) return;
        // Where it says no, the call would have copied the sample unchanged.
        var x = Values(Batch * Item);
        var scaled = new float[x.Length];
        sampler.ScaleModelInput(x, t, scaled);
        Assert.That(scaled, Is.EqualTo(x));
    }

    /// <summary>A plugin that overrides the scaling but not the new member is still asked for it.</summary>
    [Test]
    public void ASamplerThatOverridesTheScalingIsAlwaysAskedForIt()
    {
        var plugin = new HalvingInputSampler();
        Assert.That(plugin.ScalesModelInput(500), Is.True);
    }

    /// <summary>The loop feeds an unscaled sample to the network as it is, and still asks a scaling sampler.</summary>
    [TestCase(SamplerNames.Ddim, false)]
    [TestCase(SamplerNames.Euler, true)]
    public void TheLoopSkipsTheCallOnlyWhereTheSamplerSaysSo(string name, bool scales)
    {
        var sampler = new CountingScale(TestHost.Factory.Create(name, new SchedulerConfig()));
        sampler.SetTimesteps(3);
        var shape = new TensorShape(1, 1, 2, 2);
        var x = Values(shape.Length).Select(v => v * 10).ToArray();
        var loop = new SamplingLoop { Sampler = sampler, Denoiser = new ZeroDenoiser() };
        loop.Run(x, shape, new TorchGaussianNoise(1), default, default, CancellationToken.None);
        Assert.That(sampler.Calls, Is.EqualTo(scales ? 3 : 0));
    }

    // The decorator's ScaleModelInput is not virtual: re-implementing the interface counts the calls the loop makes through it.
    private sealed class CountingScale(ISampler inner) : SamplerDecorator(inner), ISampler
    {
        public int Calls { get; private set; }

        public new void ScaleModelInput(ReadOnlySpan<float> sample, double timestep, Span<float> destination)
        {
            Calls++;
            Inner.ScaleModelInput(sample, timestep, destination);
        }
    }

    private sealed class HalvingInputSampler() : SamplerBase("halving-input", new SchedulerConfig())
    {
        public override void ScaleModelInput(ReadOnlySpan<float> sample, double timestep, Span<float> destination)
        {
            for (var i = 0; i < sample.Length; i++) destination[i] = sample[i] / 2;
        }

        protected override double[] CreateTimesteps(int numInferenceSteps) => TimestepSpacings.Linspace(Schedule.NumTrainTimesteps, numInferenceSteps);

        protected override bool Step(int index, in StepInput input, in StepOutput output, INoiseSource noise)
        {
            input.Sample.CopyTo(output.PrevSample);
            return false;
        }
    }

    private sealed class ZeroDenoiser : IDenoiser
    {
        public int? FixedBatchSize => null;

        public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default) => output.Clear();

        public void Dispose() { }
    }
}
