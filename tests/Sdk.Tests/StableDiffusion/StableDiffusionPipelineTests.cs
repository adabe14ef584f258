using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Diffusion.Sdk.Tests.StableDiffusion;

/// <summary>What the Stable Diffusion loader reads from which file, and how the pipeline treats requests around the reference cases.</summary>
[TestFixture]
public sealed class StableDiffusionPipelineTests
{
    [Test]
    public void EachLayoutIsReadFromItsFiles()
    {
        var legacy = SdFixture.Model;
        var optimum = SdFixture.OptimumModel;
        Assert.Multiple(() =>
        {
            Assert.That(legacy.Layout, Is.EqualTo(StableDiffusionLayout.LegacyDiffusers));
            Assert.That(legacy.ScalingFactor, Is.EqualTo(0.18215));
            Assert.That(legacy.VaeScaleFactor, Is.EqualTo(8));
            Assert.That(legacy.LatentChannels, Is.EqualTo(4));
            Assert.That(legacy.TextEncoder.InputDescription, Does.Contain("int32"));
            Assert.That(legacy.VaeEncoder!.OutputKind(4), Is.EqualTo(VaeEncoderOutput.Sample));
            Assert.That(legacy.SchedulerConfig!.ClassName, Is.EqualTo("PNDMScheduler"));

            Assert.That(optimum.Layout, Is.EqualTo(StableDiffusionLayout.Optimum));
            Assert.That(optimum.VaeEncoder!.OutputKind(4), Is.EqualTo(VaeEncoderOutput.LatentParameters));
            Assert.That(optimum.DefaultSampleSize, Is.EqualTo(8));
            Assert.That(optimum.SchedulerConfig!.LambdaMinClipped, Is.EqualTo(double.NegativeInfinity), "bare -Infinity in scheduler_config.json");
        });
    }

    [Test]
    public void TheScalingFactorComesFromTheVaeConfig()
    {
        var folder = OptimumLayout.Build(Path.Combine(Path.GetTempPath(), "sd-scaling-" + Guid.NewGuid().ToString("N")), scalingFactor: 0.13025);
        try
        {
            using var model = StableDiffusionModel.Load(folder, new StableDiffusionOptions { Tokenizer = new FixedTokenizer() });
            Assert.That(model.ScalingFactor, Is.EqualTo(0.13025));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void TheOptimumEncoderReturnsTheReferencePosteriorParameters()
    {
        var c = SdFixture.Case("A4-img2img-pndm");
        var pixels = c.Tensor("img2img", "preprocessed_image");
        var (ours, shape) = SdFixture.OptimumModel.VaeEncoder!.Encode(pixels, new TensorShape(1, 3, 64, 64));
        Assert.That(shape, Is.EqualTo(new TensorShape(1, 8, 8, 8)));
        Tolerance.AssertClose(ours, Array.ConvertAll(c.Tensor("img2img", "latent_parameters"), v => (double)v), "latent_parameters", abs: 1e-4, rel: 1e-5);

        var rgb = StableDiffusionImages.Decode(c.InputPng!);
        Assert.That(StableDiffusionImages.Preprocess(rgb.Rgb, rgb.Width, rgb.Height), Is.EqualTo(pixels), "preprocessing is exact");
    }

    [Test]
    public void Int64TokenIdsReachTheTextEncoderUnchanged()
    {
        using var encoder = new OnnxTextEncoder(OnnxComponent.Open(TestData.Path("sd-synthetic", "text_encoder_int64.onnx"), "text encoder", new OnnxModelOptions(), NullLogger.Instance));
        int[] ids = [49406, 320, 1125, 49407, 49407];
        var hidden = encoder.Encode(ids);
        Assert.That(encoder.InputDescription, Does.Contain("int64"));
        Assert.That(hidden, Has.Length.EqualTo(ids.Length * 32));
        for (var s = 0; s < ids.Length; s++) Assert.That(hidden[s * 32 + 31], Is.EqualTo((float)ids[s]));
    }

    [Test]
    public void Float16DecodersAreConvertedAtTheBoundary()
    {
        using var decoder = new OnnxVaeDecoder(OnnxComponent.Open(TestData.Path("sd-synthetic", "vae_decoder_fp16.onnx"), "VAE decoder", new OnnxModelOptions(), NullLogger.Instance));
        var latents = Enumerable.Range(0, 2 * 4 * 2 * 2).Select(i => i * 0.25f).ToArray();
        var (pixels, shape) = decoder.Decode(latents, new TensorShape(2, 4, 2, 2));
        Assert.That(shape, Is.EqualTo(new TensorShape(2, 3, 16, 16)));
        // Item 1, channel 2, pixel (15, 15) is latent (1, 2, 1, 1): index 16 + 8 + 3 = 27 → 6.75, exact in float16.
        Assert.That(pixels[shape.ItemLength + 2 * 256 + 255], Is.EqualTo(6.75f));
    }

    [TestCase(60, 64)]
    [TestCase(64, 0)]
    [TestCase(-8, 64)]
    public void SizesThatAreNotMultiplesOfTheVaeFactorFailBeforeAnyWork(int width, int height)
    {
        var error = Assert.Throws<ImageSizeException>(() => SdFixture.Pipeline.GenerateAsync(new StableDiffusionRequest { Prompt = "x", Width = width, Height = height, Steps = 2 }))!;
        Assert.That(error.Message, Does.Contain("multiples of 8"));
    }

    [Test]
    public async Task AStartImageOfAnotherSizeIsResizedAndAnUnreadableOneRefused()
    {
        // The reference's image processor resizes a picture of another size; so does the SDK (ImageResampling).
        var png = ImageEncoder.EncodePixelsPng(new byte[32 * 48 * 3], 32, 48, 3);
        var result = await SdFixture.Pipeline.GenerateAsync(new StableDiffusionRequest { Prompt = "x", Width = 64, Height = 64, InitImage = png, Steps = 2, Strength = 1 });
        Assert.That((result.ImageShape.Width, result.ImageShape.Height), Is.EqualTo((64, 64)));
        // Without a size, the picture's own, each side rounded down to a multiple of 8 (as the reference's processor).
        var odd = ImageEncoder.EncodePixelsPng(new byte[70 * 50 * 3], 70, 50, 3);
        var own = await SdFixture.Pipeline.GenerateAsync(new StableDiffusionRequest { Prompt = "x", InitImage = odd, Steps = 2, Strength = 1 });
        Assert.That((own.ImageShape.Width, own.ImageShape.Height), Is.EqualTo((64, 48)));
        var tiny = ImageEncoder.EncodePixelsPng(new byte[5 * 5 * 3], 5, 5, 3);
        Assert.Throws<ImageSizeException>(() => SdFixture.Pipeline.GenerateAsync(new StableDiffusionRequest { Prompt = "x", InitImage = tiny, Steps = 2 }));
        Assert.Throws<InvalidImageException>(() => SdFixture.Pipeline.GenerateAsync(new StableDiffusionRequest { Prompt = "x", InitImage = [1, 2, 3], Steps = 2 }));
    }

    [Test]
    public void AnIncompleteFolderNamesWhatIsMissing()
    {
        var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "sd-empty-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var error = Assert.Throws<ModelLoadException>(() => StableDiffusionModel.Load(folder))!;
            Assert.That(error.Message, Does.Contain("text_encoder/model.onnx").And.Contain("unet/model.onnx").And.Contain("tokenizer/"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void CancellationStopsTheRun()
    {
        var c = SdFixture.Case("A1-txt2img-pndm");
        using var cancel = new CancellationTokenSource();
        var request = SdFixture.Request(c, (step, _) => { if (step.Index == 1) cancel.Cancel(); });
        Assert.That(async () => await SdFixture.Pipeline.GenerateAsync(request, cancellationToken: cancel.Token), Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task ABatchDrawsItsNoiseAsOneTensorAndReportsProgress()
    {
        // randn of [4, 4, 8, 8] begins with the values of randn of [1, 4, 8, 8] on the same seed, so item 0 of this
        // batch is case A1 again; the other items use other noise and another prompt.
        var c = SdFixture.Case("A1-txt2img-pndm");
        var reports = new List<Diffusion.Sdk.Pipeline.GenerationProgress>();
        var progress = new SynchronousProgress(reports);
        var request = SdFixture.Request(c);
        var batch = new StableDiffusionRequest
        {
            Prompts = [c.Prompt, "a red-haired woman's portrait, 35mm f/1.8"], ImagesPerPrompt = 2,
            NegativePrompt = request.NegativePrompt, Steps = request.Steps, GuidanceScale = request.GuidanceScale, Seed = request.Seed, Width = 64, Height = 64,
        };
        var result = await SdFixture.Pipeline.GenerateAsync(batch, progress);
        Assert.That(result.LatentShape, Is.EqualTo(new TensorShape(4, 4, 8, 8)));
        Assert.That(result.Png, Has.Count.EqualTo(4));
        Tolerance.AssertClose(result.Latents.AsSpan(0, 256), Array.ConvertAll(c.Tensor("final_latents"), v => (double)v), "item 0 = case A1", abs: 1e-3, rel: 1e-4);
        Assert.That(result.Latents.AsSpan(256, 256).SequenceEqual(result.Latents.AsSpan(0, 256)), Is.False);
        Assert.That(reports.Select(r => r.Step), Is.EqualTo(Enumerable.Range(1, result.Timesteps.Count)));
        Assert.That(result.UnetEvaluations, Is.EqualTo(result.Timesteps.Count), "uncond and cond in one UNet call per step");
    }

    [Test]
    public async Task ConcurrentRequestsShareTheSessionsAndGiveTheSameBytes()
    {
        var c = SdFixture.Case("A3-txt2img-pndm-no-cfg-long-prompt");
        var runs = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => SdFixture.Pipeline.GenerateAsync(SdFixture.Request(c))));
        Assert.That(runs[1].Png[0], Is.EqualTo(runs[0].Png[0]));
        Assert.That(runs[2].Latents, Is.EqualTo(runs[0].Latents));
    }

    [Test]
    public async Task TheAdaptiveSamplerRunsGuidedTextToImageAndReportsSigma()
    {
        var c = SdFixture.Case("A1-txt2img-pndm");
        var reports = new List<Diffusion.Sdk.Pipeline.GenerationProgress>();
        StableDiffusionRequest Adaptive(SdReferenceCase from) => new()
        {
            Prompt = from.Prompt, NegativePrompt = from.NegativePrompt, GuidanceScale = from.GuidanceScale, Seed = from.Seed,
            Width = from.Width, Height = from.Height, InitImage = from.InputPng, Strength = from.Strength ?? 0.8, Sampler = SamplerNames.DpmAdaptive,
        };
        var request = Adaptive(c);
        var result = await SdFixture.Pipeline.GenerateAsync(request, new SynchronousProgress(reports));
        var again = await SdFixture.Pipeline.GenerateAsync(request);
        Assert.Multiple(() =>
        {
            Assert.That(request.GuidanceScale, Is.GreaterThan(1), "the case is guided");
            Assert.That(result.SamplerName, Is.EqualTo(SamplerNames.DpmAdaptive));
            Assert.That(reports.All(r => r.TotalSteps is null), Is.True);
            Assert.That(reports[^1].Sigma, Is.EqualTo(0.0292).Within(1e-4), "Stable Diffusion's σ_min");
            Assert.That(reports[^1].ModelEvaluations, Is.EqualTo(result.UnetEvaluations), "uncond and cond in one UNet call per evaluation");
            Assert.That(result.Latents, Is.All.Not.NaN);
            Assert.That(again.Png[0], Is.EqualTo(result.Png[0]));
            Assert.That(async () => await SdFixture.Pipeline.GenerateAsync(Adaptive(SdFixture.Case("A4-img2img-pndm"))),
                Throws.TypeOf<SamplingOptionException>().With.Property(nameof(SamplingOptionException.Option)).EqualTo("InitImage"));
        });
    }

    private sealed class SynchronousProgress(List<Diffusion.Sdk.Pipeline.GenerationProgress> reports) : IProgress<Diffusion.Sdk.Pipeline.GenerationProgress>
    {
        public void Report(Diffusion.Sdk.Pipeline.GenerationProgress value) => reports.Add(value);
    }

    private sealed class FixedTokenizer : IPromptTokenizer
    {
        public int ModelMaxLength => 77;

        public int[] Encode(string text) => [49406, .. Enumerable.Repeat(49407, 76)];
    }
}
