using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// The consistency samplers' image-to-image schedule (the reference's <c>set_timesteps(n, strength=s)</c>: the steps are
/// chosen among the first ⌊N'·s⌋ timesteps of the distillation schedule) and the per-request
/// <c>original_inference_steps</c>.
/// </summary>
[TestFixture]
public sealed class ConsistencyStrengthScheduleTests
{
    private static readonly SchedulerConfig Lcm = new() { ClassName = "LCMScheduler", OriginalInferenceSteps = 50 };

    [TestCase(SamplerNames.Lcm, 4, 0.5, new double[] { 499, 379, 259, 139 })]   // the lcm-tiny-optimum fixture's L3
    [TestCase(SamplerNames.Lcm, 4, 1.0, new double[] { 999, 759, 499, 259 })]   // L1: strength 1 is the text-to-image schedule
    [TestCase(SamplerNames.Tcd, 3, 0.3, new double[] { 299, 199, 99 })]
    [TestCase(SamplerNames.Lcm, 2, 0.07, new double[] { 59, 39 })]              // int(50 · 0.07) = 3 timesteps: 19, 39, 59
    public void StrengthChoosesAmongTheFirstPartOfTheDistillationSchedule(string name, int steps, double strength, double[] expected)
    {
        var sampler = (IStrengthScheduledSampler)SamplerDecorator.Unwrap(TestHost.Factory.Create(name, Lcm));
        sampler.SetTimesteps(steps, strength);
        Assert.That(sampler.Timesteps, Is.EqualTo(expected));
    }

    [Test]
    public void TooFewTimestepsForTheStrengthIsATypedError()
    {
        var sampler = (IStrengthScheduledSampler)SamplerDecorator.Unwrap(TestHost.Factory.Create(SamplerNames.Lcm, Lcm));
        var e = Assert.Throws<SchedulerConfigException>(() => sampler.SetTimesteps(4, 0.05))!;   // int(50 · 0.05) = 2 < 4
        Assert.That(e.Message, Does.Contain("num_inference_steps").And.Contain("strength"));
        Assert.Throws<SchedulerConfigException>(() => sampler.SetTimesteps(1, 0));
        Assert.Throws<SchedulerConfigException>(() => sampler.SetTimesteps(1, 1.5));
    }

    [Test]
    public void OriginalInferenceStepsIsARequestOption()
    {
        // o = 20: k = 50, timesteps among 49, 99, …, 999.
        var options = new SamplingOptions { Sampler = SamplerNames.Lcm, OriginalInferenceSteps = 20, Steps = 4 };
        var sampler = TestHost.Factory.Create(options, Lcm);
        sampler.SetTimesteps(4);
        Assert.That(sampler.Timesteps, Is.EqualTo(new double[] { 999, 749, 499, 249 }));
        Assert.That(options.OverriddenKeys(), Does.Contain(("original_inference_steps", nameof(SamplingOptions.OriginalInferenceSteps))));
        Assert.Throws<SamplingOptionException>(() => new SamplingOptions { OriginalInferenceSteps = 0 }.Validate());
    }
}
