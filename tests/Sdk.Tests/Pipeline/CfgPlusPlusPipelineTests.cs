using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Pipeline;

/// <summary>
/// <see cref="SamplingOptions.CfgPlusPlus"/> through <see cref="DiffusionPipeline"/> on the closed-form class-conditional
/// mixture: it runs with the samplers that have a CFG++ step, guides at λ ≤ 1 (where plain guidance does not run), and
/// refuses everything else before the first model call.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class CfgPlusPlusPipelineTests
{
    private static GenerationRequest Request(string sampler, double? lambda, bool cfgPlusPlus = true, long label = 1, SamplerEnsemble? ensemble = null) => new()
    {
        Sampling = new SamplingOptions { Sampler = sampler, Steps = 8, GuidanceScale = lambda, CfgPlusPlus = cfgPlusPlus },
        BatchSize = 3,
        Seed = 4,
        ClassLabel = label,
        Ensemble = ensemble,
    };

    [TestCase("euler")]
    [TestCase("euler-ancestral")]
    [TestCase("dpm-solver")]
    public void ItGuidesAtLambdaOneWherePlainGuidanceRunsTheConditionalModelAlone(string sampler)
    {
        var cfgpp = new DiffusionPipeline(new ClosedFormModel(), TestHost.Factory).Generate(Request(sampler, 1.0));
        var conditional = new DiffusionPipeline(new ClosedFormModel(), TestHost.Factory).Generate(Request(sampler, 1.0, cfgPlusPlus: false));
        Assert.That(cfgpp.ModelEvaluations, Is.EqualTo(8), "one batch of conditional and unconditional items per step");
        Assert.That(cfgpp.Latents.All(float.IsFinite));
        Assert.That(cfgpp.Latents, Is.Not.EqualTo(conditional.Latents), "re-noised along the unconditional prediction");
    }

    [Test]
    public void AtLambdaZeroItSamplesTheUnconditionalModel()
    {
        // λ = 0 is plain Euler on the unconditional label (2) of the mixture.
        var cfgpp = new DiffusionPipeline(new ClosedFormModel(), TestHost.Factory).Generate(Request("euler", 0.0));
        var unconditional = new DiffusionPipeline(new ClosedFormModel(), TestHost.Factory).Generate(Request("euler", 1.0, cfgPlusPlus: false, label: MixtureDenoiser.Unconditional));
        Tolerance.AssertClose(cfgpp.Latents, unconditional.Latents.Select(v => (double)v).ToArray(), "latents", abs: 1e-5, rel: 1e-5);
    }

    [TestCase("ddim")]
    [TestCase("heun")]
    [TestCase("dpm-adaptive")]
    public void ASamplerWithoutACfgPlusPlusStepIsRefusedBeforeTheModelIsCalled(string sampler)
    {
        var model = new ClosedFormModel();
        var error = Assert.Throws<SamplingOptionException>(() => new DiffusionPipeline(model, TestHost.Factory).Generate(Request(sampler, 0.6)));
        Assert.That(error!.Option, Is.EqualTo(nameof(SamplingOptions.CfgPlusPlus)));
        Assert.That(model.DenoisersCreated, Is.Zero);
    }

    [Test]
    public void AnEnsembleMemberWithoutACfgPlusPlusStepIsRefusedBeforeTheModelIsCalled()
    {
        var model = new ClosedFormModel();
        var request = Request("euler", 0.6, ensemble: SamplerEnsemble.Parse("euler:0.5,ddim:0.5"));
        Assert.Throws<SamplingOptionException>(() => new DiffusionPipeline(model, TestHost.Factory).Generate(request));
        Assert.That(model.DenoisersCreated, Is.Zero);
    }

    [Test]
    public void CfgPlusPlusWithoutAScaleIsRefusedNamingIt()
    {
        var model = new ClosedFormModel();
        var error = Assert.Throws<SamplingOptionException>(() => new DiffusionPipeline(model, TestHost.Factory).Generate(Request("euler", null)));
        Assert.That(error!.Option, Is.EqualTo(nameof(SamplingOptions.GuidanceScale)));
        Assert.That(model.DenoisersCreated, Is.Zero);
    }
}
