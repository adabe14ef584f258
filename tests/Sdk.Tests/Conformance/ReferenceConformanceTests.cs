using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Conformance;

/// <summary>
/// Replays every trajectory recorded from the reference implementation (<c>TestData/reference/schedulers</c>, and
/// the files under <c>DIFFUSION_REFERENCE_DIR</c> when it is set): same configuration, same model outputs and noise,
/// and the sampler must reproduce timesteps, sigmas, every scaled input and every step's sample within
/// 1e-4 absolute + 1e-4 relative, carrying its own sample forward. Samplers not registered yet are skipped.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class ReferenceConformanceTests
{
    /// <summary>The SDK sampler name for each reference kind (a file's <c>scheduler</c> field).</summary>
    internal static readonly Dictionary<string, string> SamplerByReferenceName = new()
    {
        ["ddpm"] = SamplerNames.Ddpm, ["ddim"] = SamplerNames.Ddim, ["dpm_solver"] = SamplerNames.DpmSolver,
        ["euler"] = SamplerNames.Euler, ["euler_ancestral"] = SamplerNames.EulerAncestral, ["pndm"] = SamplerNames.Pndm,
        // The second set's kinds; each is ignored until its sampler is registered.
        ["unipc"] = "unipc", ["deis"] = "deis", ["dpm_solver_singlestep"] = "dpm-solver-singlestep", ["lms"] = "lms",
        ["heun"] = "heun", ["kdpm2"] = "kdpm2", ["kdpm2_ancestral"] = "kdpm2-ancestral", ["lcm"] = "lcm", ["tcd"] = "tcd",
        // The third set's kinds.
        ["flow_euler"] = SamplerNames.FlowMatchEuler, ["flow_heun"] = SamplerNames.FlowMatchHeun, ["flow_lcm"] = SamplerNames.FlowMatchLcm,
        ["ipndm"] = SamplerNames.Ipndm, ["ddim_inverse"] = SamplerNames.DdimInverse,
        ["edm_euler"] = "edm-euler", ["edm_dpm_solver"] = "edm-dpm-solver", ["sa_solver"] = "sa-solver",
        ["dpm_solver_inverse"] = "dpm-solver-inverse", ["dpm_solver_sde"] = "dpm-solver-sde",
    };

    public static IEnumerable<TestCaseData> Files()
    {
        foreach (var file in Directory.EnumerateFiles(TestData.Path("reference", "schedulers"), "*.json").Order(StringComparer.Ordinal))
            yield return new TestCaseData(file).SetName($"Reference {Path.GetFileName(file)}");
        // Recorded here from the reference's source (tools/reference-trajectories): configurations of each class where
        // double-precision arithmetic missed the reference (see that folder's README).
        foreach (var file in Directory.EnumerateFiles(TestData.Path("reference", "generated"), "*.json").Order(StringComparer.Ordinal))
            yield return new TestCaseData(file).SetName($"Reference generated:{Path.GetFileName(file)}");
        if (TestData.ExternalReferenceDirectory is { } dir)
        {
            var external = Path.Combine(dir, "schedulers");
            foreach (var file in Directory.Exists(external) ? Directory.EnumerateFiles(external, "*.json").Order(StringComparer.Ordinal) : Enumerable.Empty<string>())
                yield return new TestCaseData(file).SetName($"Reference env:{Path.GetFileName(file)}");
        }
    }

    [Test]
    public void BundledReferenceDataIsPresent() =>
        Assert.That(Directory.EnumerateFiles(TestData.Path("reference", "schedulers"), "*.json").Count(), Is.GreaterThanOrEqualTo(100));

    [TestCaseSource(nameof(Files))]
    public void Trajectory(string path)
    {
        var reference = ReferenceTrajectory.Load(path);
        var name = SamplerByReferenceName[reference.Scheduler];
        if (!TestHost.Factory.Names.Contains(name)) Assert.Ignore($"The '{name}' sampler is not built yet.");

        var config = SchedulerConfigJson.Parse(reference.ConfigJson, source: reference.File);
        if (reference.Eta is { } eta) config.Eta = eta;
        // step_kwargs are per-step arguments in the reference; here they are sampler settings.
        if (reference.StepEta is { } gamma) config.Eta = gamma;
        if (reference.StepOrder is { } order) config.SolverOrder = order;
        (config.SChurn, config.STmin, config.STmax, config.SNoise) = (reference.SChurn, reference.STmin, reference.STmax, reference.SNoise);
        var sampler = TestHost.Factory.Create(name, config);
        SetTimesteps(sampler, reference);

        Tolerance.AssertClose(sampler.Timesteps.Select(t => (float)t).ToArray(), reference.Timesteps, "timesteps", abs: 1e-4, rel: 1e-6);
        if (reference.Sigmas is { } flowSigmas && sampler is IFlowMatchingSampler flow)
            Tolerance.AssertClose(flow.Sigmas.Select(x => (float)x).ToArray(), flowSigmas, "sigmas");
        else if (reference.Sigmas is { } sigmas)
        {
            Assert.That(sampler, Is.InstanceOf<ISigmaSampler>(), "a sampler with a sigma table must expose it");
            Tolerance.AssertClose(ReferenceSigmaTable(reference.Scheduler, (ISigmaSampler)sampler), sigmas, "sigmas");
        }
        Assert.That(sampler.InitNoiseSigma, Is.EqualTo(reference.InitNoiseSigma).Within(1e-4).Percent, "init_noise_sigma");

        var n = reference.Sample.Length;
        var sample = reference.Sample.Select(v => (float)v).ToArray();
        var modelInput = new float[n];
        var prev = new float[n];
        var predicted = new float[n];
        for (var k = 0; k < reference.Steps.Length; k++)
        {
            var step = reference.Steps[k];
            var at = $"step {k} (t = {step.T})";
            sampler.ScaleModelInput(sample, step.T, modelInput);
            Tolerance.AssertClose(modelInput, step.ModelInput, $"{at}: model input");

            var noise = new RecordedNoise(step.Noise is null ? [] : [step.Noise.Select(v => (float)v).ToArray()]);
            var output = step.ModelOutput.Select(v => (float)v).ToArray();
            var wrote = sampler.Step(new StepInput(output, step.T, sample, reference.BatchSize), new StepOutput(prev, predicted), noise);
            Assert.That(noise.Remaining, Is.Zero, $"{at}: the reference drew noise here and the sampler did not");
            Tolerance.AssertClose(prev, step.PrevSample, $"{at}: prev_sample");
            if (wrote && step.PredOriginalSample is { } x0) Tolerance.AssertClose(predicted, x0, $"{at}: pred_original_sample");
            // LCM's denoised is the consistency function's output, its estimate of x₀: what it reports as the predicted x₀.
            if (step.Denoised is { } denoised)
            {
                Assert.That(wrote, Is.True, $"{at}: the sampler reports no x₀ prediction where the reference reports denoised");
                Tolerance.AssertClose(predicted, denoised, $"{at}: denoised");
            }
            // TCD's pred_noised_sample is its x₀ prediction noised to the intermediate timestep s = ⌊(1 − γ)·t'⌋ (float32),
            // t' the next timestep (0 after the last), with the ε that x₀ implies: rebuilt here from the reported x₀.
            if (step.PredNoisedSample is { } noised)
            {
                Assert.That(wrote, Is.True, $"{at}: the sampler reports no x₀ prediction where the reference reports pred_noised_sample");
                var next = k + 1 < reference.Timesteps.Length ? reference.Timesteps[k + 1] : 0;
                var s = (int)MathF.Floor((float)(1 - (reference.StepEta ?? 0.3)) * (float)next);
                Tolerance.AssertClose(NoisedFromX0(sampler.Schedule, (int)step.T, s, predicted, sample), noised, $"{at}: pred_noised_sample");
            }
            (sample, prev) = (prev, sample);
        }

        foreach (var (add, what) in new[] { (reference.AddNoise, "add_noise"), (reference.ScaleNoise, "scale_noise") })
        {
            if (add is null) continue;
            var noisy = new float[add.Original.Length];
            sampler.AddNoise(add.Original.Select(v => (float)v).ToArray(), add.Noise.Select(v => (float)v).ToArray(), add.Timesteps, noisy);
            Tolerance.AssertClose(noisy, add.Expected, what);
        }
    }

    /// <summary>
    /// set_timesteps as the file called it: the count, or an explicit σ or timestep list (σ through <see cref="ISigmaSampler"/>
    /// or <see cref="IFlowMatchingSampler"/>), with μ for a flow-matching sampler.
    /// </summary>
    private static void SetTimesteps(ISampler sampler, ReferenceTrajectory reference)
    {
        if (sampler is IFlowMatchingSampler flow)
        {
            if (reference.ExplicitSigmas is { } flowSigmas) flow.SetSigmas(flowSigmas, reference.Mu);
            else if (reference.ExplicitTimesteps is { } flowTimesteps) flow.SetTimesteps(flowTimesteps, reference.Mu);
            else flow.SetTimesteps(reference.NumInferenceSteps, reference.Mu);
            return;
        }
        if (reference.ExplicitSigmas is { } sigmas) ((ISigmaSampler)sampler).SetSigmas(sigmas);
        else if (reference.ExplicitTimesteps is { } timesteps) sampler.SetTimesteps(timesteps);
        else sampler.SetTimesteps(reference.NumInferenceSteps);
    }

    /// <summary>√ᾱ_s·x₀ + √(1−ᾱ_s)·ε, ε = (x_t − √ᾱ_t·x₀)/√(1−ᾱ_t) being the noise that x₀ implies at t.</summary>
    private static float[] NoisedFromX0(Diffusion.Sdk.Abstractions.NoiseSchedule schedule, int t, int s, float[] x0, float[] sample)
    {
        double alphaT = schedule.SqrtAlphasCumprod[t], sigmaT = schedule.SqrtOneMinusAlphasCumprod[t];
        double alphaS = schedule.SqrtAlphasCumprod[s], sigmaS = schedule.SqrtOneMinusAlphasCumprod[s];
        return x0.Select((x, i) => (float)(alphaS * x + sigmaS * (sample[i] - alphaT * x) / sigmaT)).ToArray();
    }

    /// <summary>
    /// The sampler's σ table in the reference's layout. The SDK lists the σ of every network evaluation; so does the
    /// reference, except for the KDPM2 kinds, whose table holds the interval ends only (σ_0, then σ_1 … σ_{n−1} and
    /// the final σ each twice, then the final σ once more), not the midpoints the network sees at every other call.
    /// Those are checked through each step's model input, x/√(σ²+1).
    /// </summary>
    internal static float[] ReferenceSigmaTable(string kind, ISigmaSampler sampler)
    {
        if (kind is not ("kdpm2" or "kdpm2_ancestral" or "dpm_solver_sde")) return sampler.Sigmas.Select(s => (float)s).ToArray();
        var intervals = ((SigmaSamplerBase)sampler).IntervalSigmas;
        if (kind == "dpm_solver_sde")
        {
            // DPM-Solver SDE lists σ₀, then σ₁ … σ_{n−1} twice, then the final σ once (not the midpoints its second calls use).
            var sde = new List<float> { (float)intervals[0] };
            for (var i = 1; i < intervals.Count - 1; i++) sde.AddRange([(float)intervals[i], (float)intervals[i]]);
            sde.Add((float)intervals[^1]);
            return sde.ToArray();
        }
        var table = new List<float> { (float)intervals[0] };
        for (var i = 1; i < intervals.Count; i++) table.AddRange([(float)intervals[i], (float)intervals[i]]);
        table.Add((float)intervals[^1]);
        return table.ToArray();
    }
}
