using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Lcm;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// LCM and TCD beyond the reference vectors: with the ideal network of their kind on Gaussian data (μ = 0.5, s = 0.2) a
/// consistency sampler is exact at any step count, which the kit's many-step checks cannot show; typed errors.
/// </summary>
[TestFixture]
public sealed class ConsistencySamplerTests
{
    private const int SampleCount = 20_000;
    private static readonly GaussianData Data = new(0.5, 0.2);

    private static double StandardError => Data.Std / Math.Sqrt(SampleCount);

    // The closed-form checks start from pure noise, so they name the common linear schedule, whose last ᾱ is about 4e-5:
    // LCM's and TCD's own class defaults (the Stable Diffusion schedule) leave ᾱ = 0.0047 of the signal at t = 999.
    private const double LinearStart = 0.0001, LinearEnd = 0.02;

    [TestCase(1), TestCase(2), TestCase(4), TestCase(8)]
    public void LcmWithTheIdealConsistencyNetworkSamplesTheDataAtAnyStepCount(int steps)
    {
        var sampler = TestHost.Factory.Create(SamplerNames.Lcm, new SchedulerConfig { PredictionType = PredictionType.Epsilon, BetaStart = LinearStart, BetaEnd = LinearEnd, BetaSchedule = BetaSchedule.Linear });
        var (mean, std) = ClosedFormSampling.Moments(ClosedFormSampling.Sample(sampler, steps, Data, SampleCount, seed: 5, network: ConsistencyNetworks.Lcm).Samples);
        Assert.Multiple(() =>
        {
            Assert.That(mean, Is.EqualTo(Data.Mean).Within(4 * StandardError), "mean");
            Assert.That(std, Is.EqualTo(Data.Std).Within(0.02 * Data.Std), "standard deviation");
        });
    }

    [Test]
    public void LcmInOneStepIsTheConsistencyFunctionItself()
    {
        // One step draws nothing and returns f(x_T) = the exact origin of every x_T's trajectory.
        var sampler = TestHost.Factory.Create(SamplerNames.Lcm, new SchedulerConfig { PredictionType = PredictionType.Sample, BetaStart = LinearStart, BetaEnd = LinearEnd, BetaSchedule = BetaSchedule.Linear });
        var run = ClosedFormSampling.Sample(sampler, 1, Data, 1000, seed: 2, network: ConsistencyNetworks.Lcm);
        Assert.That(ClosedFormSampling.EndpointError(run, Data), Is.LessThan(1e-5));
    }

    [TestCase(0.3, 2), TestCase(0.3, 4), TestCase(0.7, 4), TestCase(1.0, 8)]
    public void TcdWithTheIdealTrajectoryConsistencyNetworkSamplesTheDataAtAnyStepCount(double gamma, int steps)
    {
        var sampler = TestHost.Factory.Create(SamplerNames.Tcd, new SchedulerConfig { Eta = gamma, PredictionType = PredictionType.VPrediction, BetaStart = LinearStart, BetaEnd = LinearEnd, BetaSchedule = BetaSchedule.Linear });
        var (mean, std) = ClosedFormSampling.Moments(ClosedFormSampling.Sample(sampler, steps, Data, SampleCount, seed: 6, network: ConsistencyNetworks.Tcd).Samples);
        // The last step lands at training step 0, not at ᾱ = 1: the data scaled by √ᾱ₀ plus noise of variance 1 − ᾱ₀.
        var alphaBar0 = sampler.Schedule.AlphasCumprod[0];
        Assert.Multiple(() =>
        {
            Assert.That(mean, Is.EqualTo(Math.Sqrt(alphaBar0) * Data.Mean).Within(4 * StandardError), "mean");
            Assert.That(std, Is.EqualTo(Math.Sqrt(Data.Variance(alphaBar0))).Within(0.02 * Data.Std), "standard deviation");
        });
    }

    [TestCase(1), TestCase(4), TestCase(10)]
    public void DeterministicTcdFollowsTheExactFlowToTrainingStepZero(int steps)
    {
        var sampler = TestHost.Factory.Create(SamplerNames.Tcd, new SchedulerConfig { Eta = 0, BetaStart = LinearStart, BetaEnd = LinearEnd, BetaSchedule = BetaSchedule.Linear });
        var run = ClosedFormSampling.Sample(sampler, steps, Data, 1000, seed: 3, network: ConsistencyNetworks.Tcd);
        var finalSigma = Math.Sqrt(1 / sampler.Schedule.AlphasCumprod[0] - 1);
        // float32 rounding only: x̂₀ = (x − σ·ε)/√ᾱ divides by √ᾱ_T = 0.0064 at t = 999 (4e-5 in one step).
        Assert.That(ClosedFormSampling.EndpointError(run, Data, finalSigma), Is.LessThan(1e-4));
    }

    [Test]
    public void TcdTakesItsIntermediateTimestepInFloat32()
    {
        // (1 − 0.8)·125 is 24.999999999999996 in double and 25 in float32, as the reference computes it.
        var tcd = (TcdSampler)TestHost.Factory.Create(SamplerNames.Tcd, new SchedulerConfig { Eta = 0.8 });
        Assert.Multiple(() =>
        {
            Assert.That(tcd.IntermediateTimestep(125), Is.EqualTo(25));
            Assert.That(tcd.IntermediateTimestep(0), Is.Zero);
        });
    }

    [Test]
    public void ConsistencyTimestepsComeFromTheDistillationSchedule()
    {
        var lcm = TestHost.Factory.Create(SamplerNames.Lcm, new SchedulerConfig());
        lcm.SetTimesteps(4);
        // k = 1000 // 50 = 20: positions 0, 12, 25, 37 from the top of 19, 39, …, 999.
        Assert.That(lcm.Timesteps, Is.EqualTo(new double[] { 999, 759, 499, 259 }));
    }

    public static IEnumerable<TestCaseData> InvalidConfigurations()
    {
        yield return new TestCaseData(SamplerNames.Lcm, new SchedulerConfig { OriginalInferenceSteps = 0 }, "original_inference_steps").SetName("LCM original_inference_steps 0");
        yield return new TestCaseData(SamplerNames.Tcd, new SchedulerConfig { OriginalInferenceSteps = 1001 }, "original_inference_steps").SetName("TCD original_inference_steps above T");
        yield return new TestCaseData(SamplerNames.Lcm, new SchedulerConfig { TimestepScaling = 0 }, "timestep_scaling").SetName("LCM timestep_scaling 0");
        yield return new TestCaseData(SamplerNames.Tcd, new SchedulerConfig { Eta = 1.5 }, "eta").SetName("TCD gamma above 1");
        yield return new TestCaseData(SamplerNames.Tcd, new SchedulerConfig { Eta = -0.1 }, "eta").SetName("TCD gamma below 0");
    }

    [TestCaseSource(nameof(InvalidConfigurations))]
    public void AnInvalidConfigurationIsATypedErrorNamingItsKey(string name, SchedulerConfig config, string key)
    {
        var e = Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.Create(name, config));
        Assert.That(e!.Key, Is.EqualTo(key), e.Message);
    }

    [TestCase(SamplerNames.Lcm), TestCase(SamplerNames.Tcd)]
    public void MoreStepsThanTheDistillationScheduleIsATypedError(string name)
    {
        var sampler = TestHost.Factory.Create(name, new SchedulerConfig());
        var e = Assert.Throws<SchedulerConfigException>(() => sampler.SetTimesteps(51));
        Assert.That(e!.Key, Is.EqualTo("num_inference_steps"), e.Message);
        Assert.That(e.Message, Does.Contain("original_inference_steps = 50"));
    }
}
