using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.StableDiffusion;

/// <summary>
/// The tiny LCM export (a UNet with <c>timestep_cond</c>, Optimum layout) against diffusers'
/// <c>LatentConsistencyModelPipeline</c> and <c>LatentConsistencyModelImg2ImgPipeline</c>, case by case: the guidance
/// embedding instead of classifier-free guidance (one UNet call per step, batch 1), LCM's own sampler, the
/// distillation schedule (shortened by the strength for image to image), the step draws, and the denoised sample as
/// the result.
/// </summary>
[TestFixture]
public sealed class LcmReferenceTests
{
    [Test]
    public void TheModelIsRecognisedAsGuidanceDistilled()
    {
        Assert.That(LcmFixture.Model.GuidanceEmbeddingDimension, Is.EqualTo(256), "timestep_cond [batch, 256]");
        Assert.That(LcmFixture.Model.Conditioner, Is.InstanceOf<GuidanceEmbeddingConditioner>());
        Assert.That(SdFixture.Model.GuidanceEmbeddingDimension, Is.Null);
    }

    [TestCaseSource(typeof(LcmFixture), nameof(LcmFixture.Cases))]
    public void TheTokenIdsAndTheDrawsMatchExactly(string name)
    {
        var c = LcmFixture.Case(name);
        Assert.That(LcmFixture.Model.Tokenizer.Encode(c.Prompt), Is.EqualTo(c.PromptIds), "prompt");
        ReferenceRun.AssertDrawsReplay(c);
    }

    [TestCaseSource(typeof(LcmFixture), nameof(LcmFixture.Cases))]
    public void TheTextEmbeddingsMatch(string name)
    {
        var c = LcmFixture.Case(name);
        Tolerance.AssertClose(LcmFixture.Model.TextEncoder.Encode(c.PromptIds), ReferenceRun.Doubles(c.Tensor("text_embeddings", "prompt_embeds")), "prompt embeddings", abs: 1e-4, rel: 0);
    }

    [TestCaseSource(typeof(LcmFixture), nameof(LcmFixture.Cases))]
    public async Task TheWholeRunMatchesStepForStep(string name)
    {
        var c = LcmFixture.Case(name);
        // The latents the pipeline returns are the reference's output_type="latent": the last step's denoised sample.
        await ReferenceRun.RunAndCompare(LcmFixture.Pipeline, c, LcmFixture.Request(c), finalLatentsKey: "final_denoised");
    }

    [Test]
    public async Task TcdRunsWhenAskedAndTheDistillationScheduleIsSetPerRequest()
    {
        var result = await LcmFixture.Pipeline.GenerateAsync(new StableDiffusionRequest
        {
            Prompt = "a cat", Steps = 4, GuidanceScale = 8, Seed = 1, Width = 64, Height = 64, Sampler = "tcd", OriginalInferenceSteps = 20,
        });
        Assert.That(result.SamplerName, Is.EqualTo("tcd"));
        Assert.That(result.Timesteps, Is.EqualTo(new double[] { 999, 749, 499, 249 }), "k = 1000 // 20 = 50");
        Assert.That(result.UnetEvaluations, Is.EqualTo(4), "one UNet call per step: no guidance batch");
        Assert.That(result.Latents, Has.All.Matches<float>(float.IsFinite));
    }

    [Test]
    public void TooManyStepsForTheStrengthIsATypedErrorBeforeAnyWork()
    {
        var c = LcmFixture.Case("L3-lcm-img2img-strength0.5");
        var request = LcmFixture.Request(c);
        var e = Assert.ThrowsAsync<Diffusion.Sdk.Abstractions.SchedulerConfigException>(() => LcmFixture.Pipeline.GenerateAsync(new StableDiffusionRequest
        {
            Prompt = request.Prompt, Steps = 4, Seed = 1, InitImage = request.InitImage, Strength = 0.06,
        }))!;
        Assert.That(e.Message, Does.Contain("strength"));
    }
}
