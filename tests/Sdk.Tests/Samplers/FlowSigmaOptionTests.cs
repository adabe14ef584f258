using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.DpmSolver;
using Diffusion.Sdk.Samplers.UniPc;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// <c>use_flow_sigmas</c>, <c>flow_shift</c> and <c>flow_prediction</c>: read from a scheduler_config.json, honoured by
/// the samplers that offer flow σ (as flow-matching samplers), refused with a typed error naming the key elsewhere and
/// in the combinations the reference cannot run. The trajectories are checked by the g3-dpm_solver, g3-unipc and
/// g3-dpm_solver_inverse reference files.
/// </summary>
[TestFixture]
public sealed class FlowSigmaOptionTests
{
    [Test]
    public void TheKeysAreReadFromAConfigurationFile()
    {
        var config = SchedulerConfigJson.Parse("""{"use_flow_sigmas": true, "flow_shift": 3.0, "prediction_type": "flow_prediction"}""");
        Assert.Multiple(() =>
        {
            Assert.That(config.UseFlowSigmas, Is.True);
            Assert.That(config.FlowShift, Is.EqualTo(3.0));
            Assert.That(config.PredictionType, Is.EqualTo(PredictionType.FlowPrediction));
        });
    }

    [TestCase(SamplerNames.DpmSolver, typeof(DpmSolverFlowSampler))]
    [TestCase(SamplerNames.UniPc, typeof(UniPcFlowSampler))]
    [TestCase(SamplerNames.DpmSolverSinglestep, typeof(DpmSolverSinglestepFlowSampler))]
    [TestCase(SamplerNames.Deis, typeof(Diffusion.Sdk.Samplers.Deis.DeisFlowSampler))]
    public void FlowSigmasMakeAFlowMatchingSampler(string name, Type type)
    {
        var sampler = TestHost.Factory.Create(name, new SchedulerConfig { UseFlowSigmas = true, FlowShift = 3, PredictionType = PredictionType.FlowPrediction });
        Assert.That(sampler, Is.InstanceOf(type).And.InstanceOf<IFlowMatchingSampler>());
        sampler.SetTimesteps(10);
        var sigmas = ((IFlowMatchingSampler)sampler).Sigmas;
        // Shifted flow σ descend inside (0, 1); each timestep is σ·N truncated.
        Assert.That(sigmas[0], Is.LessThan(1).And.GreaterThan(sigmas[1]));
        for (var i = 0; i < sampler.Timesteps.Count; i++)
            Assert.That(sampler.Timesteps[i], Is.EqualTo(Math.Truncate(sigmas[i] * 1000)).Within(1), $"timestep {i}");
    }

    [Test]
    public void FlowAddNoiseIsTheFlowForwardProcess()
    {
        var sampler = TestHost.Factory.Create(SamplerNames.DpmSolver, new SchedulerConfig { UseFlowSigmas = true, FlowShift = 3 });
        sampler.SetTimesteps(10);
        var sigma = (float)((ISigmaSampler)sampler).Sigmas[2];
        float[] x0 = [0.5f, -1f], noise = [1f, 2f], noisy = new float[2];
        sampler.AddNoise(x0, noise, [sampler.Timesteps[2]], noisy);
        Assert.That(noisy, Is.EqualTo(new[] { (1 - sigma) * x0[0] + sigma * noise[0], (1 - sigma) * x0[1] + sigma * noise[1] }));
    }

    [Test]
    public void DynamicShiftingTakesMuWhenTimestepsAreSet()
    {
        var sampler = (IFlowMatchingSampler)TestHost.Factory.Create(SamplerNames.UniPc, new SchedulerConfig { UseFlowSigmas = true, UseDynamicShifting = true });
        var e = Assert.Throws<SchedulerConfigException>(() => sampler.SetTimesteps(10));
        Assert.That(e!.Key, Is.EqualTo("mu"));
        sampler.SetTimesteps(10, mu: 0.5);
        Assert.That(sampler.Timesteps, Has.Count.EqualTo(10));
    }

    [TestCase(SamplerNames.Euler, "use_flow_sigmas", true, null)]
    [TestCase(SamplerNames.Deis, "prediction_type", false, PredictionType.FlowPrediction)]
    [TestCase(SamplerNames.Ddim, "prediction_type", false, PredictionType.FlowPrediction)]
    [TestCase(SamplerNames.DpmSolver, "prediction_type", false, PredictionType.FlowPrediction)]
    [TestCase(SamplerNames.UniPc, "prediction_type", false, PredictionType.FlowPrediction)]
    public void SamplersWithoutFlowSigmasRefuseTheFlowOptions(string name, string key, bool flowSigmas, PredictionType? prediction)
    {
        var config = new SchedulerConfig { UseFlowSigmas = flowSigmas };
        if (prediction is { } type) config.PredictionType = type;
        var e = Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.Create(name, config));
        Assert.That(e!.Key, Is.EqualTo(key), e.Message);
    }

    [Test]
    public void CombinationsTheReferenceCannotRunAreRefused()
    {
        Assert.Multiple(() =>
        {
            // DPM-Solver's noise-prediction algorithms have no flow conversion; a σ spacing would be read as flow σ.
            Assert.That(Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.Create(SamplerNames.DpmSolver,
                new SchedulerConfig { UseFlowSigmas = true, PredictionType = PredictionType.FlowPrediction, AlgorithmType = "dpmsolver", FinalSigmasType = "sigma_min" }))!.Key,
                Is.EqualTo("algorithm_type"));
            Assert.That(Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.Create(SamplerNames.DpmSolver,
                new SchedulerConfig { UseFlowSigmas = true, UseKarrasSigmas = true }))!.Key, Is.EqualTo("use_flow_sigmas"));
            Assert.That(Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.Create(SamplerNames.UniPc,
                new SchedulerConfig { UseFlowSigmas = true, PredictionType = PredictionType.FlowPrediction, PredictX0 = false, FinalSigmasType = "sigma_min" }))!.Key,
                Is.EqualTo("predict_x0"));
            Assert.That(Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.Create(SamplerNames.UniPc,
                new SchedulerConfig { UseFlowSigmas = true, UseExponentialSigmas = true }))!.Key, Is.EqualTo("use_flow_sigmas"));
            Assert.That(Assert.Throws<SchedulerConfigException>(() => SchedulerConfigJson.Parse("""{"flow_shift": 0}"""))!.Key, Is.EqualTo("flow_shift"));
            // A variance-exploding σ list on a flow configuration.
            var unipc = (ISigmaSampler)TestHost.Factory.Create(SamplerNames.UniPc, new SchedulerConfig { UseFlowSigmas = true });
            Assert.That(Assert.Throws<SchedulerConfigException>(() => unipc.SetSigmas([14.6, 1.0, 0.1]))!.Key, Is.EqualTo("sigmas"));
        });
    }
}
