using System.Text.Json.Nodes;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Conformance;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// Align Your Steps as a spacing: the published 10-step lists exactly (as the reference's recorded runs pass them),
/// the paper's log-linear interpolation at other counts (against numpy, tools/align-your-steps), the same run through
/// <see cref="SamplingOptions.Spacing"/> as through the explicit list, and typed refusals before any work.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class AlignYourStepsTests
{
    private static readonly AlignYourStepsModel[] Models = Enum.GetValues<AlignYourStepsModel>();

    // The reference files that pass a published list explicitly: those whose set_timesteps list is one of the
    // published 10-step lists (σ with its final 0, or timesteps), whatever else they configure.
    public static IEnumerable<TestCaseData> ReferenceFilesWithPublishedLists()
    {
        foreach (var data in ReferenceConformanceTests.Files())
        {
            var path = (string)data.Arguments[0]!;
            var reference = ReferenceTrajectory.Load(path);
            if (Match(reference) is not null) yield return new TestCaseData(path).SetName($"AYS {Path.GetFileName(path)}");
        }
    }

    private static (AlignYourStepsModel Model, StepSpacing Spacing)? Match(ReferenceTrajectory reference)
    {
        foreach (var model in Models)
        {
            if (reference.ExplicitSigmas is { } sigmas && sigmas.SequenceEqual(AlignYourSteps.Sigmas(model, AlignYourSteps.PublishedSteps)))
                return (model, StepSpacing.AlignYourStepsSigmas);
            if (reference.ExplicitTimesteps is { } timesteps && AlignYourSteps.PublishedTimesteps(model) is { } published && timesteps.SequenceEqual(published))
                return (model, StepSpacing.AlignYourStepsTimesteps);
        }
        return null;
    }

    [Test]
    public void EveryPublishedListIsPassedByAReferenceFile()
    {
        var matched = ReferenceFilesWithPublishedLists().Select(d => Match(ReferenceTrajectory.Load((string)d.Arguments[0]!))!.Value).ToHashSet();
        foreach (var model in Models)
        {
            Assert.That(matched, Does.Contain((model, StepSpacing.AlignYourStepsSigmas)), $"{model}: σ list");
            if (model != AlignYourStepsModel.StableVideoDiffusion)
                Assert.That(matched, Does.Contain((model, StepSpacing.AlignYourStepsTimesteps)), $"{model}: timestep list");
        }
    }

    [Test]
    public void TenStepsGiveThePublishedListsExactly()
    {
        // The reference's AysSchedules, as its pipelines take them: σ ending in 0.0, timesteps without the final 0.
        Assert.That(AlignYourSteps.Sigmas(AlignYourStepsModel.StableDiffusion, 10),
            Is.EqualTo(new[] { 14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.0 }));
        Assert.That(AlignYourSteps.Sigmas(AlignYourStepsModel.StableDiffusionXL, 10),
            Is.EqualTo(new[] { 14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.0 }));
        Assert.That(AlignYourSteps.Sigmas(AlignYourStepsModel.StableVideoDiffusion, 10),
            Is.EqualTo(new[] { 700.00, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.0 }));
        var schedule = TestHost.Factory.Create(SamplerNames.Euler, StableDiffusionConfig()).Schedule;
        Assert.That(AlignYourSteps.Timesteps(AlignYourStepsModel.StableDiffusion, 10, schedule),
            Is.EqualTo(new double[] { 999, 850, 736, 645, 545, 455, 343, 233, 124, 24 }));
        Assert.That(AlignYourSteps.Timesteps(AlignYourStepsModel.StableDiffusionXL, 10, schedule),
            Is.EqualTo(new double[] { 999, 845, 730, 587, 443, 310, 193, 116, 53, 13 }));
        Assert.Throws<NotSupportedException>(() => AlignYourSteps.Timesteps(AlignYourStepsModel.StableVideoDiffusion, 10, schedule));
    }

    public static IEnumerable<TestCaseData> InterpolatedCases()
    {
        var root = JsonNode.Parse(File.ReadAllText(TestData.Path("align-your-steps", "interpolated.json")))!;
        foreach (var item in root["cases"]!.AsArray())
        {
            var model = Enum.Parse<AlignYourStepsModel>(item!["model"]!.GetValue<string>());
            var steps = item["steps"]!.GetValue<int>();
            var sigmas = item["sigmas"]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
            var timesteps = item["timesteps"]?.AsArray().Select(x => x!.GetValue<double>()).ToArray();
            yield return new TestCaseData(model, steps, sigmas, timesteps).SetName($"AYS interpolated {model} {steps} steps");
        }
    }

    /// <summary>
    /// numpy's log/exp and .NET's may differ in the last bit of log σ, which exp turns into a relative error of up to
    /// |log σ|·2⁻⁵² (about 7 ulp of σ = 700): a relative tolerance of 1e-14, far below any float32 step's rounding.
    /// </summary>
    [TestCaseSource(nameof(InterpolatedCases))]
    public void OtherCountsFollowThePapersInterpolation(AlignYourStepsModel model, int steps, double[] expected, double[]? expectedTimesteps)
    {
        var sigmas = AlignYourSteps.Sigmas(model, steps);
        Assert.That(sigmas, Has.Length.EqualTo(steps + 1));
        Assert.That(sigmas[^1], Is.Zero, "a run ends at σ = 0");
        for (var i = 0; i < sigmas.Length; i++)
            Assert.That(sigmas[i], Is.EqualTo(expected[i]).Within(1e-14 * expected[i]), $"σ[{i}]");
        if (expectedTimesteps is null) return;
        var schedule = TestHost.Factory.Create(SamplerNames.Euler, StableDiffusionConfig()).Schedule;
        Assert.That(AlignYourSteps.Timesteps(model, steps, schedule), Is.EqualTo(expectedTimesteps));
    }

    [Test]
    public void InterpolationKeepsBothEndsAndIsLogLinearBetweenPublishedPoints()
    {
        // 21 points over 11: every other one is a published value, each one between is the geometric mean of its neighbours.
        var published = AlignYourSteps.PublishedSigmas(AlignYourStepsModel.StableDiffusionXL);
        var twice = AlignYourSteps.LogLinearInterpolate(published, 21);
        for (var i = 0; i < published.Count; i++) Assert.That(twice[2 * i], Is.EqualTo(published[i]).Within(1e-12).Percent, $"point {2 * i}");
        for (var i = 1; i < twice.Length; i += 2) Assert.That(twice[i], Is.EqualTo(Math.Sqrt(twice[i - 1] * twice[i + 1])).Within(1e-12).Percent, $"point {i}");
        Assert.Throws<ArgumentException>(() => AlignYourSteps.LogLinearInterpolate([1.0, 2.0], 3), "increasing");
        Assert.Throws<ArgumentException>(() => AlignYourSteps.LogLinearInterpolate([1.0, 0.0], 3), "log 0");
    }

    /// <summary>
    /// Each reference run that passes a published list explicitly gives the same timesteps, σ and samples, bit for bit,
    /// through the spacing (its model and form named) at 10 steps, and matches the reference.
    /// </summary>
    [TestCaseSource(nameof(ReferenceFilesWithPublishedLists))]
    public void SpacingGivesTheSameRunAsTheExplicitList(string path)
    {
        var reference = ReferenceTrajectory.Load(path);
        var (model, spacing) = Match(reference)!.Value;
        var name = ReferenceConformanceTests.SamplerByReferenceName[reference.Scheduler];
        var config = SchedulerConfigJson.Parse(reference.ConfigJson, source: reference.File);

        var direct = TestHost.Factory.Create(name, config.Clone());
        if (reference.ExplicitSigmas is { } sigmas) ((ISigmaSampler)direct).SetSigmas(sigmas);
        else direct.SetTimesteps(reference.ExplicitTimesteps!);
        var options = new SamplingOptions { Sampler = name, Steps = AlignYourSteps.PublishedSteps, Spacing = spacing, AlignYourStepsModel = model };
        var spaced = TestHost.Factory.Create(options, config.Clone());
        spaced.SetTimesteps(options.Steps);

        Assert.That(spaced.Timesteps, Is.EqualTo(direct.Timesteps), "timesteps");
        if (direct is ISigmaSampler directSigmas)
            Assert.That(((ISigmaSampler)SamplerDecorator.Unwrap(spaced)).Sigmas, Is.EqualTo(directSigmas.Sigmas), "σ");

        var n = reference.Sample.Length;
        float[] a = reference.Sample.Select(v => (float)v).ToArray(), b = (float[])a.Clone();
        float[] nextA = new float[n], nextB = new float[n], input = new float[n];
        for (var k = 0; k < reference.Steps.Length; k++)
        {
            var step = reference.Steps[k];
            var output = step.ModelOutput.Select(v => (float)v).ToArray();
            var noise = step.Noise is null ? Array.Empty<float[]>() : [step.Noise.Select(v => (float)v).ToArray()];
            spaced.ScaleModelInput(b, step.T, input);
            Tolerance.AssertClose(input, step.ModelInput, $"step {k}: model input");
            direct.Step(new StepInput(output, step.T, a, reference.BatchSize), new StepOutput(nextA), new RecordedNoise(noise));
            spaced.Step(new StepInput(output, step.T, b, reference.BatchSize), new StepOutput(nextB), new RecordedNoise(noise));
            Assert.That(nextB, Is.EqualTo(nextA), $"step {k}: the spacing's sample differs from the explicit list's");
            Tolerance.AssertClose(nextB, step.PrevSample, $"step {k}: prev_sample");
            (a, nextA) = (nextA, a);
            (b, nextB) = (nextB, b);
        }
    }

    [Test]
    public void TheAutomaticFormIsSigmaForSigmaSamplersAndTimestepsOtherwise()
    {
        var euler = Spaced(SamplerNames.Euler, StepSpacing.AlignYourSteps, AlignYourStepsModel.StableDiffusionXL, steps: 10);
        Assert.That(((ISigmaSampler)SamplerDecorator.Unwrap(euler)).Sigmas.Select(s => (float)s),
            Is.EqualTo(AlignYourSteps.Sigmas(AlignYourStepsModel.StableDiffusionXL, 10).Select(s => (float)s)));
        var ddim = Spaced(SamplerNames.Ddim, StepSpacing.AlignYourSteps, AlignYourStepsModel.StableDiffusionXL, steps: 10);
        Assert.That(ddim.Timesteps, Is.EqualTo(AlignYourSteps.PublishedTimesteps(AlignYourStepsModel.StableDiffusionXL)));
        var ddpm = Spaced(SamplerNames.Ddpm, StepSpacing.AlignYourSteps, AlignYourStepsModel.StableDiffusion, steps: 7);
        Assert.That(ddpm.Timesteps, Is.EqualTo(AlignYourSteps.Timesteps(AlignYourStepsModel.StableDiffusion, 7, ddpm.Schedule)));
        Assert.That(ddpm.Timesteps, Has.Count.EqualTo(7));
    }

    [Test]
    public void SamplersThatCannotTakeTheListAreRefusedWhenCreated()
    {
        // PNDM takes neither explicit σ nor explicit timesteps; DDIM no σ; the video schedule has no timesteps.
        AssertRefused(SamplerNames.Pndm, StepSpacing.AlignYourSteps, AlignYourStepsModel.StableDiffusion, "Spacing", "pndm");
        AssertRefused(SamplerNames.Ddim, StepSpacing.AlignYourStepsSigmas, AlignYourStepsModel.StableDiffusion, "Spacing", "noise levels");
        AssertRefused(SamplerNames.Ddim, StepSpacing.AlignYourSteps, AlignYourStepsModel.StableVideoDiffusion, "Spacing", "σ only");
        AssertRefused(SamplerNames.FlowMatchEuler, StepSpacing.AlignYourSteps, AlignYourStepsModel.StableDiffusion, "Spacing", "flow");
        AssertRefused(SamplerNames.DpmAdaptive, StepSpacing.AlignYourSteps, AlignYourStepsModel.StableDiffusion, "Spacing", "chooses its own steps");
        AssertRefused(SamplerNames.Euler, StepSpacing.AlignYourStepsTimesteps, AlignYourStepsModel.StableVideoDiffusion, "Spacing", "σ only");
        AssertRefused(SamplerNames.Euler, StepSpacing.AlignYourSteps, null, "AlignYourStepsModel", "model family");
        var both = new SamplingOptions { Sampler = SamplerNames.Euler, Spacing = StepSpacing.AlignYourSteps, AlignYourStepsModel = AlignYourStepsModel.StableDiffusion, UseKarrasSigmas = true };
        Assert.That(Assert.Throws<SamplingOptionException>(() => TestHost.Factory.Create(both, StableDiffusionConfig()))!.Option, Is.EqualTo("UseKarrasSigmas"));
    }

    [Test]
    public void TheModelFilesSigmaSpacingGivesWayToTheRequestedSchedule()
    {
        var config = StableDiffusionConfig();
        config.UseKarrasSigmas = true;
        var dpm = Spaced(SamplerNames.DpmSolver, StepSpacing.AlignYourStepsTimesteps, AlignYourStepsModel.StableDiffusion, steps: 10, config);
        Assert.That(dpm.Timesteps, Is.EqualTo(AlignYourSteps.PublishedTimesteps(AlignYourStepsModel.StableDiffusion)));
    }

    /// <summary>The Stable Diffusion pipeline picks the family's list: SD 1.x/2.x's for the tiny SD model, SDXL's for the tiny SDXL one.</summary>
    [Test]
    public async Task ThePipelinePicksTheModelFamilysList()
    {
        StableDiffusionRequest Request(SamplingOptions sampling) => new()
        {
            Prompt = "a lighthouse", Seed = 1, Steps = AlignYourSteps.PublishedSteps, GuidanceScale = 1, Sampler = SamplerNames.Ddim, Sampling = sampling,
        };
        var sd = await StableDiffusion.SdFixture.Pipeline.GenerateAsync(Request(new SamplingOptions { Spacing = StepSpacing.AlignYourSteps }));
        Assert.That(sd.Timesteps, Is.EqualTo(AlignYourSteps.PublishedTimesteps(AlignYourStepsModel.StableDiffusion)));
        var xl = await StableDiffusionXL.SdxlFixture.Pipeline.GenerateAsync(Request(new SamplingOptions { Spacing = StepSpacing.AlignYourSteps }));
        Assert.That(xl.Timesteps, Is.EqualTo(AlignYourSteps.PublishedTimesteps(AlignYourStepsModel.StableDiffusionXL)));
        // A request that names the list keeps it.
        var named = await StableDiffusionXL.SdxlFixture.Pipeline.GenerateAsync(Request(new SamplingOptions
            { Spacing = StepSpacing.AlignYourSteps, AlignYourStepsModel = AlignYourStepsModel.StableDiffusion }));
        Assert.That(named.Timesteps, Is.EqualTo(AlignYourSteps.PublishedTimesteps(AlignYourStepsModel.StableDiffusion)));
    }

    private static ISampler Spaced(string sampler, StepSpacing spacing, AlignYourStepsModel model, int steps, SchedulerConfig? config = null)
    {
        var options = new SamplingOptions { Sampler = sampler, Steps = steps, Spacing = spacing, AlignYourStepsModel = model };
        var created = TestHost.Factory.Create(options, config ?? StableDiffusionConfig());
        created.SetTimesteps(steps);
        return created;
    }

    private static void AssertRefused(string sampler, StepSpacing spacing, AlignYourStepsModel? model, string option, string says)
    {
        var options = new SamplingOptions { Sampler = sampler, Steps = 10, Spacing = spacing, AlignYourStepsModel = model };
        var e = Assert.Throws<SamplingOptionException>(() => TestHost.Factory.Create(options, StableDiffusionConfig()), $"{sampler} with {spacing} for {model}")!;
        Assert.That(e.Option, Is.EqualTo(option));
        Assert.That(e.Message, Does.Contain(says));
    }

    private static SchedulerConfig StableDiffusionConfig() => new()
    {
        NumTrainTimesteps = 1000, BetaStart = 0.00085, BetaEnd = 0.012, BetaSchedule = BetaSchedule.ScaledLinear,
    };
}
