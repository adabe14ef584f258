using Diffusion.Configuration;
using Diffusion.Noise;
using Diffusion.Scheduling;
using Diffusion.Tests.Support;
using Diffusion.Wrappers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Diffusion.Tests.Wrappers;

/// <summary>
/// The wrappers themselves: clipping, the factory's fixed order, third-party wrappers, options binding. That every
/// wrapper composes around every sampler (and that identity settings change nothing) is the conformance kit's check,
/// run by each sampler's fixture.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class WrapperTests
{
    private const int Steps = 20;
    private static readonly GaussianData Data = new(0.5, 0.2);

    private static float[] Run(IScheduler sampler, GaussianData data, int count = 256, ulong seed = 4) =>
        ClosedFormSampling.Sample(sampler, Steps, data, count, seed).Samples;

    [Test]
    public void StaticClippingThroughTheWrapperMatchesTheSamplersOwnKeyForSamplePrediction()
    {
        // For x₀-predicting models the wrapper's clip and DDIM's own clip_sample act on the same tensor.
        var wide = new GaussianData(0.0, 3.0);
        var config = new SchedulerConfig { PredictionType = PredictionType.Sample, ClipSample = true };
        var native = Run(TestHost.Factory.Create("ddim", config), wide);
        var wrapped = Run(new ThresholdingWrapper(TestHost.Factory.Create("ddim", new SchedulerConfig { PredictionType = PredictionType.Sample, ClipSample = false }), ThresholdingMode.Static), wide);
        Assert.That(wrapped, Is.EqualTo(native).Within(1e-5));
    }

    [Test]
    public void TheFactoryAppliesTheWrappersTheOptionsAskForInTheirFixedOrder()
    {
        var sampler = TestHost.Factory.Create(new SamplingOptions { SchedulerType = "ddim", UseKarrasSigmas = true, Thresholding = true, Temperature = 0.9, NoiseInjection = 0.1 });
        var chain = new List<Type>();
        for (var s = sampler; ; s = ((SchedulerDecorator)s).Inner)
        {
            chain.Add(s.GetType());
            if (s is not SchedulerDecorator) break;
        }
        Assert.That(chain.Select(t => t.Name), Is.EqualTo(new[]
            { nameof(TemperatureWrapper), nameof(NoiseInjectionWrapper), nameof(ThresholdingWrapper), nameof(KarrasSigmasWrapper), "DdimScheduler" }));
        Assert.That(TestHost.Factory.Create(new SamplingOptions()), Is.Not.InstanceOf<SchedulerDecorator>(), "no wrapper unless asked for");
    }

    [Test]
    public void AThirdPartyWrapperFromDiComposesLikeTheBuiltInOnes()
    {
        using var provider = TestHost.Build(b => b.AddWrapper(new WrapperRegistration("sign-flip-twice", 250, (s, o, _) => new CountingWrapper(s))));
        var factory = provider.GetRequiredService<ISamplerFactory>();
        var sampler = factory.Create(new SamplingOptions { SchedulerType = "ddpm", Thresholding = true, Temperature = 0.5 });
        Assert.That(sampler, Is.InstanceOf<TemperatureWrapper>());
        var counting = (CountingWrapper)((SchedulerDecorator)sampler).Inner;
        Assert.That(counting.Inner, Is.InstanceOf<ThresholdingWrapper>(), "order 250 sits between thresholding (200) and noise injection (300)");
        Run(sampler, Data);
        Assert.That(counting.Steps, Is.EqualTo(Steps));
    }

    [Test]
    public void OptionsBindFromAppSettingsAndInvalidOnesNameTheField()
    {
        var json = """{"Sampling": {"SchedulerType": "ddpm", "NumInferenceSteps": 25, "GuidanceScale": 3, "BetaSchedule": "ScaledLinear", "Eta": 0.5}}""";
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json))).Build();
        var services = new ServiceCollection();
        services.AddDiffusionSampling().AddSamplingOptions(configuration.GetSection(SamplingOptions.SectionName));
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<SamplingOptions>>().Value;
        Assert.That((options.SchedulerType, options.NumInferenceSteps, options.GuidanceScale, options.BetaSchedule, options.Eta),
            Is.EqualTo(("ddpm", 25, 3.0, BetaSchedule.ScaledLinear, 0.5)));

        var bad = new ConfigurationBuilder().AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes("""{"Sampling": {"Temperature": 0}}"""))).Build();
        var badServices = new ServiceCollection();
        badServices.AddDiffusionSampling().AddSamplingOptions(bad.GetSection(SamplingOptions.SectionName));
        using var badProvider = badServices.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => _ = badProvider.GetRequiredService<IOptions<SamplingOptions>>().Value)!;
        Assert.That(error.Message, Does.Contain("Temperature"));
    }

    [TestCase(nameof(SamplingOptions.NumInferenceSteps))]
    [TestCase(nameof(SamplingOptions.GuidanceScale))]
    [TestCase(nameof(SamplingOptions.Temperature))]
    [TestCase(nameof(SamplingOptions.NoiseInjection))]
    [TestCase(nameof(SamplingOptions.Eta))]
    [TestCase(nameof(SamplingOptions.DynamicThresholdingRatio))]
    public void InvalidOptionsAreTypedErrorsNamingTheField(string field)
    {
        var options = new SamplingOptions();
        typeof(SamplingOptions).GetProperty(field)!.SetValue(options, field == nameof(SamplingOptions.NumInferenceSteps) ? 0 : (object)-1.0);
        Assert.That(Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.Create(options))!.Key, Is.EqualTo(field));
    }

    [Test]
    public void OptionsFromASchedulerConfigPickTheSamplerByClassName()
    {
        var config = SchedulerConfigJson.Parse("""{"_class_name": "DDPMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "timestep_spacing": "trailing"}""");
        var options = SamplingOptions.FromSchedulerConfig(config);
        var sampler = TestHost.Factory.Create(options);
        sampler.SetTimesteps(10);
        Assert.That((sampler.Name, sampler.Config.BetaSchedule, sampler.Timesteps[0]), Is.EqualTo(("ddpm", BetaSchedule.ScaledLinear, 999.0)));
    }

    private sealed class CountingWrapper(IScheduler inner) : SchedulerDecorator(inner)
    {
        public int Steps { get; private set; }

        public override bool Step(in StepInput input, in StepOutput output, INoiseSource noise)
        {
            Steps++;
            return Inner.Step(input, output, noise);
        }
    }
}
