using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Ddim;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Plugins;

[TestFixture]
public sealed class SamplerFactoryTests
{
    [Test]
    public void CreatesBySamplerNameIgnoringCase() =>
        Assert.That(TestHost.Factory.Create("DDIM"), Is.InstanceOf<DdimSampler>());

    [Test]
    public void CreatesTheSamplerAConfigurationFileNames()
    {
        var path = Path.Combine(Path.GetTempPath(), $"scheduler_config_{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{"_class_name": "DDIMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}""");
        try
        {
            var sampler = TestHost.Factory.CreateFromFile(path);
            Assert.That(sampler.Name, Is.EqualTo("ddim"));
            Assert.That(sampler.Config.BetaSchedule, Is.EqualTo(BetaSchedule.ScaledLinear));
            Assert.That(TestHost.Factory.CreateFromFile(path, "ddpm").Name, Is.EqualTo("ddpm"), "an explicit name overrides the file's class");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void AnUnknownNameListsTheRegisteredOnes()
    {
        var error = Assert.Throws<UnknownSamplerException>(() => TestHost.Factory.Create("no-such-sampler"))!;
        Assert.That(error.Message, Does.Contain("'no-such-sampler'").And.Contain("ddim").And.Contain("ddpm"));
    }

    [Test]
    public void AnUnknownClassNameIsATypedConfigError()
    {
        var error = Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.Create(new SchedulerConfig { ClassName = "NoSuchScheduler" }))!;
        Assert.That(error.Key, Is.EqualTo("_class_name"));
    }

    [Test]
    public void EveryCallReturnsAnIndependentInstance() =>
        Assert.That(TestHost.Factory.Create("ddim"), Is.Not.SameAs(TestHost.Factory.Create("ddim")));

    [Test]
    public void TheSamplerKeepsItsOwnCopyOfTheConfiguration()
    {
        var config = new SchedulerConfig { NumTrainTimesteps = 500 };
        var sampler = TestHost.Factory.Create("ddim", config);
        config.NumTrainTimesteps = 10;
        Assert.That(sampler.Config.NumTrainTimesteps, Is.EqualTo(500));
    }

    [Test]
    public void SteppingOutOfOrderIsATypedError()
    {
        var sampler = TestHost.Factory.Create("ddim");
        var x = new float[4];
        Assert.Throws<SamplerStateException>(() => sampler.Step(new StepInput(x, 999, x), new StepOutput(new float[4]), new RecordedNoise([])));
        sampler.SetTimesteps(2);
        Assert.Throws<SamplerStateException>(() => sampler.Step(new StepInput(x, 123, x), new StepOutput(new float[4]), new RecordedNoise([])));
    }
}
