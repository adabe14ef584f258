using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Wrappers;

/// <summary>
/// What the wrappers' refusals say (the rejected value and what is allowed, not only the key), the Karras wrapper's
/// edge cases (one step; a sampler that takes neither σ nor timesteps), and that a warm wrapper step reuses its
/// buffers instead of allocating.
/// </summary>
[TestFixture]
public sealed class WrapperRefusalAndReuseTests
{
    private static ISampler Ddim() => TestHost.Factory.Create("ddim", new SchedulerConfig());

    private static SchedulerConfigException Refusal(TestDelegate make) => Assert.Throws<SchedulerConfigException>(make)!;

    private static void AssertRefusal(TestDelegate make, string key, string value, string allowedContains)
    {
        var e = Refusal(make);
        Assert.Multiple(() =>
        {
            Assert.That(e.Key, Is.EqualTo(key));
            Assert.That(e.Value, Is.EqualTo(value), $"{key}: the rejected value, as text");
            Assert.That(e.Allowed, Does.Contain(allowedContains), $"{key}: what is allowed");
            Assert.That(e.Message, Does.Contain(value).And.Contain(allowedContains), $"{key}: the message says both");
        });
    }

    [Test]
    public void RefusalsNameTheValueAndWhatIsAllowed()
    {
        AssertRefusal(() => new TemperatureWrapper(Ddim(), -0.25), "temperature", "-0.25", "> 0");
        AssertRefusal(() => new NoiseInjectionWrapper(Ddim(), -1.5), "noise_injection", "-1.5", ">= 0");
        AssertRefusal(() => new ThresholdingWrapper(Ddim(), ThresholdingMode.Dynamic, ratio: 1.25), "dynamic_thresholding_ratio", "1.25", "(0, 1]");
        AssertRefusal(() => new ThresholdingWrapper(Ddim(), ThresholdingMode.Dynamic, maxValue: -2.5), "sample_max_value", "-2.5", "> 0");
        AssertRefusal(() => new ThresholdingWrapper(Ddim(), ThresholdingMode.Static, maxValue: -0.75), "clip_sample_range", "-0.75", "> 0");
        AssertRefusal(() => new KarrasSigmasWrapper(Ddim()).SetTimesteps(1001), "num_inference_steps", "1001", "num_train_timesteps = 1000");
        AssertRefusal(() => new KarrasSigmasWrapper(Ddim()).SetTimesteps(0), "num_inference_steps", "0", "from 1");
    }

    /// <summary>Takes any step count (clamped into the schedule) and counts the calls, so only the wrapper's own check can refuse.</summary>
    private sealed class LenientCounting(ISampler inner) : SamplerDecorator(inner)
    {
        public int Calls;
        public override void SetTimesteps(int numInferenceSteps)
        {
            Calls++;
            Inner.SetTimesteps(Math.Clamp(numInferenceSteps, 1, Schedule.NumTrainTimesteps));
        }
        public override void SetTimesteps(IReadOnlyList<double> timesteps)
        {
            Calls++;
            Inner.SetTimesteps(timesteps);
        }
    }

    [TestCase(0)]
    [TestCase(-3)]
    [TestCase(1001)]
    public void KarrasRefusesABadStepCountItselfBeforeTouchingTheSampler(int steps)
    {
        var inner = new LenientCounting(Ddim());
        var e = Refusal(() => new KarrasSigmasWrapper(inner).SetTimesteps(steps));
        Assert.That((e.Key, e.Value), Is.EqualTo(("num_inference_steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        Assert.That(inner.Calls, Is.Zero, "refused before the wrapped sampler is set up");
    }

    [Test]
    public void KarrasRhoMustBePositiveAndTheErrorSaysSo()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new KarrasSigmasWrapper(Ddim(), -2))!;
        Assert.That((e.ParamName, e.ActualValue), Is.EqualTo(("rho", (object)(-2.0))));
        Assert.That(e.Message, Does.Contain("must be > 0"));
    }

    [Test]
    public void OneKarrasStepIsAcceptedAndIsTheSamplersOwnLargestNoiseLevel()
    {
        var own = (ISigmaSampler)TestHost.Factory.Create("euler", new SchedulerConfig());
        own.SetTimesteps(1);
        var euler = TestHost.Factory.Create("euler", new SchedulerConfig());
        new KarrasSigmasWrapper(euler).SetTimesteps(1);
        Assert.That(euler.Timesteps, Has.Count.EqualTo(1));
        Assert.That(((ISigmaSampler)euler).Sigmas[0], Is.EqualTo(own.Sigmas[0]).Within(1e-6 * own.Sigmas[0]));

        var ddim = Ddim();
        new KarrasSigmasWrapper(ddim).SetTimesteps(1);
        var ownDdim = Ddim();
        ownDdim.SetTimesteps(1);
        Assert.That(ddim.Timesteps, Is.EqualTo(ownDdim.Timesteps), "one step of a timestep sampler: its own one timestep");
    }

    /// <summary>A sampler that takes a step count only, as a plugin may be.</summary>
    private sealed class StepCountOnly(ISampler inner) : SamplerDecorator(inner)
    {
        public override string Name => "step-count-only";
        public override void SetTimesteps(IReadOnlyList<double> timesteps) => throw new NotSupportedException("no explicit timesteps");
    }

    [Test]
    public void KarrasRefusesASamplerThatTakesNeitherSigmasNorTimesteps()
    {
        var e = Refusal(() => new KarrasSigmasWrapper(new StepCountOnly(Ddim())).SetTimesteps(10));
        Assert.Multiple(() =>
        {
            Assert.That(e.Key, Is.EqualTo("use_karras_sigmas"));
            Assert.That(e.Value, Is.EqualTo("true"));
            Assert.That(e.Allowed, Does.Contain("'step-count-only'").And.Contain("neither"), "names the sampler and why");
            Assert.That(e.InnerException, Is.TypeOf<NotSupportedException>());
        });
    }

    /// <summary>Copies the sample through, allocating nothing, so that only the wrapper's own allocations count.</summary>
    private sealed class PassThrough(ISampler inner) : SamplerDecorator(inner)
    {
        public override bool Step(in StepInput input, in StepOutput output, INoiseSource noise)
        {
            input.Sample.CopyTo(output.PrevSample);
            return true;
        }
    }

    [Test]
    public void AWarmWrapperStepAllocatesNothing()
    {
        const int batch = 2, length = batch * 45;
        var wrappers = new (string Name, Func<ISampler, ISampler> Make)[]
        {
            ("temperature", s => new TemperatureWrapper(s, 1.5)),
            ("noise injection", s => new NoiseInjectionWrapper(s, 0.2)),
            ("dynamic thresholding", s => new ThresholdingWrapper(s, ThresholdingMode.Dynamic, 0.9, 3.0)),
            ("static thresholding", s => new ThresholdingWrapper(s, ThresholdingMode.Static, maxValue: 1.0)),
        };
        foreach (var (name, make) in wrappers)
        {
            var ddim = Ddim();
            ddim.SetTimesteps(10);
            var wrapper = make(new PassThrough(ddim));
            var modelOutput = new float[length];
            var sample = new float[length];
            var next = new float[length];
            var noise = new TorchGaussianNoise(3);
            noise.NextGaussian(modelOutput);
            noise.NextGaussian(sample);
            var input = new StepInput(modelOutput, ddim.Timesteps[3], sample, batch);
            wrapper.Step(input, new StepOutput(next), noise); // warm: buffers grow here
            var before = GC.GetAllocatedBytesForCurrentThread();
            wrapper.Step(input, new StepOutput(next), noise);
            wrapper.Step(input, new StepOutput(next), noise);
            Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, $"{name}: a warm step reuses its buffers");
        }
    }
}
