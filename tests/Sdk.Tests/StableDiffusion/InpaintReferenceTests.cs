using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.StableDiffusion;

/// <summary>
/// Inpainting against diffusers' <c>StableDiffusionInpaintPipeline</c>, case by case: a 9-channel inpainting UNet in the
/// legacy layout (its channel count read from the first convolution's weight), with a hard and a soft mask, strength 1
/// and below, PNDM and DDIM, and sd-tiny-legacy's 4-channel UNet inpainting by blending the noised start image back into
/// the known region after every step. Draws and timesteps exactly, the latents after every step to 1e-3 + 1e-4·|x|,
/// the image to 1e-3, the PNG to ±1. Every case again in the Optimum layout (<see cref="OptimumLayout.InpaintingFolder"/>).
/// </summary>
[TestFixture]
public sealed class InpaintReferenceTests
{
    [Test]
    public void TheInpaintingUnetIsRecognisedFromItsWeights()
    {
        var info = InpaintFixture.Model.Unet.Info;
        Assert.That(info.InputChannels, Is.EqualTo(9), "conv_in.weight [32, 9, 3, 3]: the session only says 'channels'");
        Assert.That(info.Channels, Is.EqualTo(4), "the output: the latent's channels");
        Assert.That(SdFixture.Model.Unet.Info.InputChannels, Is.Null, "an ordinary UNet reads the latent only");
    }

    [TestCaseSource(typeof(InpaintFixture), nameof(InpaintFixture.Cases))]
    public void TheDrawsReplayExactly(string name) => ReferenceRun.AssertDrawsReplay(InpaintFixture.Case(name));

    [TestCaseSource(typeof(InpaintFixture), nameof(InpaintFixture.Cases))]
    public async Task TheWholeRunMatchesStepForStep(string name)
    {
        var c = InpaintFixture.Case(name);
        await ReferenceRun.RunAndCompare(InpaintFixture.PipelineOf(c), c, InpaintFixture.Request(c));
    }

    [Test]
    public void TheOptimumLayoutsInpaintingUnetIsRecognisedFromItsWeightsToo()
    {
        // Optimum's export of the same UNet: a float32 scalar timestep, and still only 'channels' in the signature.
        var model = InpaintFixture.OptimumModel;
        Assert.That(model.Layout, Is.EqualTo(StableDiffusionLayout.Optimum));
        Assert.That(model.Unet.Info.InputChannels, Is.EqualTo(9));
    }

    [TestCaseSource(typeof(InpaintFixture), nameof(InpaintFixture.Cases))]
    public async Task TheOptimumLayoutMatchesStepForStep(string name)
    {
        // The same weights in the Optimum layout (VAE encoder returning latent_parameters, scalar timestep): the same results.
        var c = InpaintFixture.Case(name);
        await ReferenceRun.RunAndCompare(InpaintFixture.OptimumPipelineOf(c), c, InpaintFixture.Request(c));
    }

    [Test]
    public async Task PicturesOfTwiceTheSizeAreResizedToTheSameResult()
    {
        // Each pixel doubled: shrinking by exactly 2 averages equal pixels, so the resized picture and mask are the
        // originals and the run is the reference's.
        var c = InpaintFixture.Case("P1-inpaint9-rect-strength1-pndm");
        var request = InpaintFixture.Request(c);
        var doubled = new StableDiffusionRequest
        {
            Prompt = request.Prompt, Steps = request.Steps, GuidanceScale = request.GuidanceScale, Seed = request.Seed, Width = 64, Height = 64,
            InitImage = Doubled(request.InitImage!), Mask = Doubled(request.Mask!), Strength = 1,
        };
        var result = await InpaintFixture.Pipeline.GenerateAsync(doubled);
        Tolerance.AssertClose(result.Latents, ReferenceRun.Doubles(c.Tensor("final_latents")), "final latents", abs: 1e-3, rel: 1e-4);
    }

    [Test]
    public async Task ABatchUnderGuidanceRunsEveryItemWithTheSameMask()
    {
        // Two images per prompt, guided: 4 rows a UNet call, the mask and masked-image latents repeated for each.
        var c = InpaintFixture.Case("P1-inpaint9-rect-strength1-pndm");
        var request = InpaintFixture.Request(c);
        var result = await InpaintFixture.Pipeline.GenerateAsync(new StableDiffusionRequest
        {
            Prompt = request.Prompt, Steps = 2, GuidanceScale = 7.5, Seed = 5, InitImage = request.InitImage, Mask = request.Mask, Strength = 1, ImagesPerPrompt = 2,
        });
        Assert.That(result.LatentShape, Is.EqualTo(new Diffusion.Sdk.Abstractions.TensorShape(2, 4, 8, 8)));
        Assert.That(result.Latents, Has.All.Matches<float>(float.IsFinite));
        Assert.That(result.Latents.AsSpan(0, 256).ToArray(), Is.Not.EqualTo(result.Latents.AsSpan(256, 256).ToArray()), "each item its own noise");
    }

    [Test]
    public void BadInpaintingRequestsAreTypedErrorsBeforeAnyWork()
    {
        var c = InpaintFixture.Case("P1-inpaint9-rect-strength1-pndm");
        var request = InpaintFixture.Request(c);
        var noMask = Assert.ThrowsAsync<InvalidImageException>(() => InpaintFixture.Pipeline.GenerateAsync(new StableDiffusionRequest { Prompt = "a", Steps = 2, InitImage = request.InitImage }))!;
        Assert.That(noMask.Message, Does.Contain("inpainting UNet").And.Contain("Mask"));
        var textOnly = Assert.ThrowsAsync<InvalidImageException>(() => InpaintFixture.Pipeline.GenerateAsync(new StableDiffusionRequest { Prompt = "a", Steps = 2 }))!;
        Assert.That(textOnly.Message, Does.Contain("9 input channels"));
        var noPicture = Assert.ThrowsAsync<InvalidImageException>(() => SdFixture.Pipeline.GenerateAsync(new StableDiffusionRequest { Prompt = "a", Steps = 2, Mask = request.Mask }))!;
        Assert.That(noPicture.Message, Does.Contain("InitImage"));
        var notAPicture = Assert.ThrowsAsync<InvalidImageException>(() => SdFixture.Pipeline.GenerateAsync(new StableDiffusionRequest { Prompt = "a", Steps = 2, InitImage = request.InitImage, Mask = [1, 2, 3] }))!;
        Assert.That(notAPicture.Message, Does.Contain("mask"));
    }

    private static byte[] Doubled(byte[] png)
    {
        var (rgb, w, h) = StableDiffusionImages.Decode(png);
        var big = new byte[4 * rgb.Length];
        for (var y = 0; y < 2 * h; y++)
            for (var x = 0; x < 2 * w; x++)
                for (var ch = 0; ch < 3; ch++)
                    big[(y * 2 * w + x) * 3 + ch] = rgb[((y / 2) * w + x / 2) * 3 + ch];
        return Diffusion.Sdk.Pipeline.ImageEncoder.EncodePixelsPng(big, 2 * w, 2 * h, 3);
    }
}
