using Diffusion.Configuration;
using Diffusion.Noise;
using Diffusion.Scheduling;
using Diffusion.Tests.Support;
using Diffusion.Wrappers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Diffusion.Tests.Wrappers;

[TestFixture]
public sealed class WrapperTests
{
    private const int Steps = 20;
    private static readonly GaussianData Data = new(0.5, 0.2);

    public static IEnumerable<string> Samplers() => TestHost.Factory.Names;

    private static IScheduler Create(string name) => TestHost.Factory.Create(name, new SchedulerConfig { ClipSample = false });

    private static float[] Run(IScheduler sampler, GaussianData data, int count = 256, ulong seed = 4) =>
        ClosedFormSampling.Sample(sampler, Steps, data, count, seed).Samples;

    [TestCaseSource(nameof(Samplers))]
    public void TemperatureOneAndInjectionZeroChangeNothing(string name)
    {
        var plain = Run(Create(name), Data);
        Assert.That(Run(new TemperatureWrapper(Create(name), 1.0), Data), Is.EqualTo(plain), "temperature 1");
        Assert.That(Run(new NoiseInjectionWrapper(Create(name), 0.0), Data), Is.EqualTo(plain), "injection strength 0");
    }

    [TestCaseSource(nameof(Samplers))]
    public void DynamicThresholdingKeepsEveryPredictedSampleInRange(string name)
    {
        // Wide data (s = 3) so that x₀ predictions exceed the range and the threshold bites.
        var wide = new GaussianData(0.0, 3.0);
        var wrapper = new ThresholdingWrapper(Create(name), ThresholdingMode.Dynamic, ratio: 0.9, maxValue: 2.0);
        var seen = 0;
        var worst = 0f;
        wrapper.PredictedOriginalLimited += (x0, _) =>
        {
            seen++;
            foreach (var v in x0) worst = Math.Max(worst, Math.Abs(v));
        };
        var samples = Run(wrapper, wide);
        Assert.Multiple(() =>
        {
            Assert.That(seen, Is.EqualTo(wrapper.Timesteps.Count), "every step's x₀ went through the threshold");
            Assert.That(worst, Is.LessThanOrEqualTo(1f), "clamp(x₀, −s, s)/s lies in [−1, 1]");
            Assert.That(samples, Is.All.Not.NaN);
            Assert.That(samples.Max(v => Math.Abs(v)), Is.LessThan(1.5f), "the samples themselves end near the limited range");
        });
    }

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

    public static IEnumerable<TestCaseData> SamplerWrapperProduct()
    {
        var wrappers = new (string Name, Func<IScheduler, IScheduler> Wrap)[]
        {
            ("karras", s => new KarrasSigmasWrapper(s)),
            ("threshold-dynamic", s => new ThresholdingWrapper(s, ThresholdingMode.Dynamic)),
            ("threshold-static", s => new ThresholdingWrapper(s, ThresholdingMode.Static)),
            ("temperature", s => new TemperatureWrapper(s, 1.05)),
            ("noise-injection", s => new NoiseInjectionWrapper(s, 0.02)),
            ("all", s => new TemperatureWrapper(new NoiseInjectionWrapper(new ThresholdingWrapper(new KarrasSigmasWrapper(s), ThresholdingMode.Dynamic), 0.02), 1.05)),
        };
        foreach (var sampler in Samplers())
            foreach (var (name, wrap) in wrappers)
                yield return new TestCaseData(sampler, wrap).SetName($"Wrapper {name} around {sampler}");
    }

    [TestCaseSource(nameof(SamplerWrapperProduct))]
    public void EveryWrapperWorksAroundEverySampler(string sampler, Func<IScheduler, IScheduler> wrap)
    {
        var wrapped = wrap(Create(sampler));
        try
        {
            wrapped.SetTimesteps(Steps);
        }
        catch (SchedulerConfigException e)
        {
            // A sampler that cannot take explicit timesteps may refuse Karras spacing, but only by name.
            Assert.That(e.Message, Does.Contain($"'{sampler}'"));
            Assert.That(wrapped, Is.InstanceOf<KarrasSigmasWrapper>().Or.InstanceOf<TemperatureWrapper>());
            return;
        }
        var samples = Run(wrapped, Data, count: 2000);
        var (mean, std) = ClosedFormSampling.Moments(samples);
        Assert.Multiple(() =>
        {
            Assert.That(samples, Is.All.Not.NaN);
            Assert.That(mean, Is.EqualTo(Data.Mean).Within(0.05));
            Assert.That(std, Is.EqualTo(Data.Std).Within(0.1));
        });
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
