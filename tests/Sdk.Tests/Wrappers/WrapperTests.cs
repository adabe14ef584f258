using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Diffusion.Sdk.Tests.Wrappers;

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

    private static float[] Run(ISampler sampler, GaussianData data, int count = 256, ulong seed = 4) =>
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
        // Euler ancestral has neither a Karras option nor thresholding of its own, so both come as wrappers.
        var sampler = TestHost.Factory.Create(new SamplingOptions { Sampler = "euler-ancestral", UseKarrasSigmas = true, Thresholding = true, Temperature = 0.9, NoiseInjection = 0.1 });
        var chain = new List<Type>();
        for (var s = sampler; ; s = ((SamplerDecorator)s).Inner)
        {
            chain.Add(s.GetType());
            if (s is not SamplerDecorator) break;
        }
        Assert.That(chain.Select(t => t.Name), Is.EqualTo(new[]
            { nameof(TemperatureWrapper), nameof(NoiseInjectionWrapper), nameof(ThresholdingWrapper), nameof(KarrasSigmasWrapper), "EulerAncestralSampler" }));
        Assert.That(TestHost.Factory.Create(new SamplingOptions()), Is.Not.InstanceOf<SamplerDecorator>(), "no wrapper unless asked for");
    }

    [Test]
    public void AThirdPartyWrapperFromDiComposesLikeTheBuiltInOnes()
    {
        using var provider = TestHost.Build(b => b.AddWrapper(new WrapperRegistration("sign-flip-twice", 250, (s, o, _) => new CountingWrapper(s))));
        var factory = provider.GetRequiredService<ISamplerFactory>();
        var sampler = factory.Create(new SamplingOptions { Sampler = "euler-ancestral", Thresholding = true, Temperature = 0.5 });
        Assert.That(sampler, Is.InstanceOf<TemperatureWrapper>());
        var counting = (CountingWrapper)((SamplerDecorator)sampler).Inner;
        Assert.That(counting.Inner, Is.InstanceOf<ThresholdingWrapper>(), "order 250 sits between thresholding (200) and noise injection (300)");
        Run(sampler, Data);
        Assert.That(counting.Steps, Is.EqualTo(Steps));
    }

    [Test]
    public void OptionsBindFromAppSettingsAndInvalidOnesNameTheField()
    {
        var json = """{"Sampling": {"Sampler": "ddpm", "Steps": 25, "GuidanceScale": 3, "BetaSchedule": "ScaledLinear", "Eta": 0.5}}""";
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json))).Build();
        var services = new ServiceCollection();
        services.AddDiffusionSampling().AddSamplingOptions(configuration.GetSection(SamplingOptions.SectionName));
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<SamplingOptions>>().Value;
        Assert.That((options.Sampler, options.Steps, options.GuidanceScale, options.BetaSchedule, options.Eta, options.UseKarrasSigmas),
            Is.EqualTo(("ddpm", 25, (double?)3.0, (BetaSchedule?)BetaSchedule.ScaledLinear, (double?)0.5, (bool?)null)), "what is not set stays null");

        var bad = new ConfigurationBuilder().AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes("""{"Sampling": {"Temperature": 0}}"""))).Build();
        var badServices = new ServiceCollection();
        badServices.AddDiffusionSampling().AddSamplingOptions(bad.GetSection(SamplingOptions.SectionName));
        using var badProvider = badServices.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => _ = badProvider.GetRequiredService<IOptions<SamplingOptions>>().Value)!;
        Assert.That(error.Message, Does.Contain("Temperature"));
    }

    [TestCase(nameof(SamplingOptions.Steps), 0)]
    [TestCase(nameof(SamplingOptions.GuidanceScale), -1.0)]
    [TestCase(nameof(SamplingOptions.GuidanceScale), 1e30)]
    [TestCase(nameof(SamplingOptions.Temperature), -1.0)]
    [TestCase(nameof(SamplingOptions.NoiseInjection), -1.0)]
    [TestCase(nameof(SamplingOptions.NoiseInjection), 1e30)]
    [TestCase(nameof(SamplingOptions.Eta), -1.0)]
    [TestCase(nameof(SamplingOptions.Eta), 1e6)]
    [TestCase(nameof(SamplingOptions.DynamicThresholdingRatio), -1.0)]
    [TestCase(nameof(SamplingOptions.BetaStart), double.NaN)]
    public void InvalidOptionsAreArgumentErrorsNamingTheOption(string field, object value)
    {
        var options = new SamplingOptions();
        typeof(SamplingOptions).GetProperty(field)!.SetValue(options, value);
        var error = Assert.Throws<SamplingOptionException>(() => TestHost.Factory.Create(options))!;
        Assert.That((error.Option, error.Message), Is.EqualTo((field, error.Message)));
        Assert.That(error.Message, Does.StartWith($"Invalid option '{field}'").And.Not.Contain("(Parameter"), "one line that names the option");
        Assert.That(error, Is.InstanceOf<ArgumentException>(), "request options are the caller's arguments, not a configuration file's keys");
    }

    [Test]
    public void EveryKnownKeyOfTheModelsConfigurationIsHonoured()
    {
        // A model whose configuration asks for Karras sigmas and thresholding gets both without any request flag:
        // natively where the sampler has the key (DDPM thresholds x0 itself), through a wrapper where it has not.
        var shipped = SchedulerConfigJson.Parse("""{"_class_name": "DDPMScheduler", "use_karras_sigmas": true, "thresholding": true, "dynamic_thresholding_ratio": 0.9, "sample_max_value": 2.5}""");
        var sampler = TestHost.Factory.Create(new SamplingOptions(), shipped);
        Assert.That(sampler, Is.InstanceOf<KarrasSigmasWrapper>(), "DDPM has no Karras option of its own");
        var inner = SamplerDecorator.Unwrap(sampler);
        Assert.That((inner.Name, inner.Config.Thresholding, inner.Config.DynamicThresholdingRatio, inner.Config.SampleMaxValue), Is.EqualTo(("ddpm", true, 0.9, 2.5)));

        var euler = TestHost.Factory.Create(new SamplingOptions { Sampler = "euler" }, shipped);
        Assert.That(euler, Is.InstanceOf<ThresholdingWrapper>(), "Euler has no thresholding of its own");
        Assert.That(((SamplerDecorator)euler).Inner, Is.Not.InstanceOf<SamplerDecorator>(), "Euler spaces by Karras itself");
        Assert.That((SamplerDecorator.Unwrap(euler).Config.UseKarrasSigmas, SamplerDecorator.Unwrap(euler).Config.Thresholding), Is.EqualTo(((bool?)true, false)),
            "the wrapper does the thresholding, so the sampler's copy has it off");
        var unthresholded = TestHost.Factory.Create(new SamplingOptions { Thresholding = false, UseKarrasSigmas = false }, shipped);
        Assert.That((unthresholded is SamplerDecorator, unthresholded.Config.Thresholding), Is.EqualTo((false, false)), "a request overrides only what it sets");
        Assert.That(unthresholded.Config.SampleMaxValue, Is.EqualTo(2.5));
    }

    [Test]
    public void TheClassNameResolvesThroughTheRegistryAndAnUnknownOneIsAWarning()
    {
        var log = new ListLogger();
        using var provider = TestHost.Build(log);
        var factory = provider.GetRequiredService<ISamplerFactory>();
        var euler = SchedulerConfigJson.Parse("""{"_class_name": "EulerDiscreteScheduler"}""");
        Assert.That(factory.Create(new SamplingOptions(), euler).Name, Is.EqualTo("euler"));
        Assert.That(log.Warnings, Is.Empty);

        var unknown = SchedulerConfigJson.Parse("""{"_class_name": "FancyNewScheduler"}""");
        Assert.That(factory.Create(new SamplingOptions(), unknown).Name, Is.EqualTo("ddim"));
        Assert.That(log.Warnings, Has.Count.EqualTo(1));
        Assert.That(log.Warnings[0], Does.Contain("FancyNewScheduler").And.Contain("'ddim'"));
        Assert.That(factory.Create(new SamplingOptions { Sampler = "euler" }, unknown).Name, Is.EqualTo("euler"), "a named sampler needs no class");
    }

    [Test]
    public void KarrasSpacingForASamplerThatCannotTakeItIsRefusedNamingTheOption()
    {
        var error = Assert.Throws<SamplingOptionException>(() => TestHost.Factory.Create(new SamplingOptions { Sampler = "pndm", UseKarrasSigmas = true }))!;
        Assert.That(error.Message, Does.Contain("UseKarrasSigmas").And.Contain("'pndm'").And.Not.Contain("explicit list"));
        var shipped = SchedulerConfigJson.Parse("""{"_class_name": "PNDMScheduler", "use_karras_sigmas": true}""");
        Assert.That(Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.Create(new SamplingOptions(), shipped))!.Key, Is.EqualTo("use_karras_sigmas"),
            "from the model's file it is a configuration error");
    }

    [TestCase("euler", nameof(SamplingOptions.Eta), "eta")]
    [TestCase("pndm", nameof(SamplingOptions.ClipSample), "clip_sample")]
    [TestCase("ddim", nameof(SamplingOptions.SolverOrder), "solver_order")]
    public void AnOptionTheSamplerIgnoresIsAWarningNamingIt(string sampler, string option, string key)
    {
        var log = new ListLogger();
        using var provider = TestHost.Build(log);
        var options = new SamplingOptions { Sampler = sampler };
        var property = typeof(SamplingOptions).GetProperty(option)!;
        property.SetValue(options, property.PropertyType == typeof(bool?) ? true : property.PropertyType == typeof(int?) ? 2 : (object)0.5);
        provider.GetRequiredService<ISamplerFactory>().Create(options);
        Assert.That(log.Warnings, Has.Count.EqualTo(1));
        Assert.That(log.Warnings[0], Does.Contain(option).And.Contain(key).And.Contain($"'{sampler}'"));

        log.Warnings.Clear();
        provider.GetRequiredService<ISamplerFactory>().Create(new SamplingOptions { Sampler = "ddim", Eta = 0.5 });
        Assert.That(log.Warnings, Is.Empty, "DDIM reads eta");
    }

    private sealed class CountingWrapper(ISampler inner) : SamplerDecorator(inner)
    {
        public int Steps { get; private set; }

        public override bool Step(in StepInput input, in StepOutput output, INoiseSource noise)
        {
            Steps++;
            return Inner.Step(input, output, noise);
        }
    }
}
