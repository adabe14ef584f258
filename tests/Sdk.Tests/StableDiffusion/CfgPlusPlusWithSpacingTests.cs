using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.StableDiffusion;

/// <summary>
/// CFG++ and Align Your Steps together: the spacing wraps the sampler, and the CFG++ check and the unconditional
/// prediction reach the sampler inside the wrapper, so the run keeps the spacing's timesteps and takes CFG++ steps.
/// </summary>
[TestFixture]
public sealed class CfgPlusPlusWithSpacingTests
{
    private static StableDiffusionRequest Request(bool cfgPlusPlus, double guidance) => new()
    {
        Prompt = "a cat", Steps = 10, Width = 32, Height = 32, Seed = 3, GuidanceScale = guidance,
        Sampling = new SamplingOptions { Sampler = "euler", Spacing = StepSpacing.AlignYourSteps, CfgPlusPlus = cfgPlusPlus, GuidanceScale = guidance },
    };

    [Test]
    public void CfgPlusPlusRunsOnTheAlignYourStepsSchedule()
    {
        var pipeline = new StableDiffusionPipeline(SdFixture.Model, TestHost.Factory);
        // At λ = 1 a CFG++ step denoises with the conditional prediction and re-noises with the unconditional one;
        // plain sampling at scale 1 runs the conditional model alone. The two agree only if the unconditional
        // prediction never reached the sampler inside the wrapper.
        var cfgpp = pipeline.Generate(Request(cfgPlusPlus: true, guidance: 1));
        var plain = pipeline.Generate(Request(cfgPlusPlus: false, guidance: 1));
        var unspaced = pipeline.Generate(Request(cfgPlusPlus: true, guidance: 1) with
        {
            Sampling = new SamplingOptions { Sampler = "euler", CfgPlusPlus = true, GuidanceScale = 1 },
        });
        Assert.That(cfgpp.Timesteps, Is.EqualTo(plain.Timesteps), "the spacing's timesteps, with or without CFG++");
        Assert.That(cfgpp.Timesteps, Is.Not.EqualTo(unspaced.Timesteps), "the model's own spacing differs from Align Your Steps");
        Assert.That(cfgpp.Latents, Is.Not.EqualTo(plain.Latents), "CFG++ steps re-noise with the unconditional prediction");
        Assert.That(cfgpp.Latents.All(float.IsFinite), Is.True);
    }
}
