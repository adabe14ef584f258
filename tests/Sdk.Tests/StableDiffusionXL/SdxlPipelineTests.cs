using System.Text.Json.Nodes;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.StableDiffusionXL;

/// <summary>What the SDXL loader reads from which file, the typed errors for requests and files that do not fit, and the options around the reference cases.</summary>
[TestFixture]
public sealed class SdxlPipelineTests
{
    [Test]
    public void TheBaseAndTheRefinerAreRecognisedFromTheirFiles()
    {
        var @base = SdxlFixture.Model(SdxlFixture.BaseFolder);
        var refiner = SdxlFixture.Model(SdxlFixture.RefinerFolder);
        Assert.Multiple(() =>
        {
            Assert.That(@base.Xl, Is.Not.Null);
            Assert.That(@base.Layout, Is.EqualTo(StableDiffusionLayout.Optimum));
            Assert.That(@base.Xl!.TextEncoders.Pairs.Select(p => p.Name), Is.EqualTo(new[] { "text_encoder", "text_encoder_2" }));
            Assert.That(@base.Xl.TimeIdsLength, Is.EqualTo(6));
            Assert.That(@base.Xl.TextEmbedsLength, Is.EqualTo(32));
            Assert.That(@base.Xl.RequiresAestheticsScore, Is.False);
            Assert.That(@base.Xl.ForceZerosForEmptyPrompt, Is.True);
            Assert.That(@base.ScalingFactor, Is.EqualTo(0.13025));
            Assert.That(@base.VaeDecoder.ForceUpcast, Is.True);
            Assert.That(@base.Conditioner, Is.InstanceOf<SdxlTextConditioner>());
            Assert.That(@base.Xl.TextEncoders.Pairs[1].Encoder.PooledOutputName, Is.EqualTo("text_embeds"));
            Assert.That(@base.Xl.TextEncoders.Pairs[0].Encoder.PooledOutputName, Is.Null, "CLIPTextModel's pooler_output is not output 0");

            Assert.That(refiner.Xl!.TextEncoders.Pairs.Select(p => p.Name), Is.EqualTo(new[] { "text_encoder_2" }));
            Assert.That(refiner.Xl.TimeIdsLength, Is.EqualTo(5));
            Assert.That(refiner.Xl.RequiresAestheticsScore, Is.True);
            Assert.That(refiner.Xl.ForceZerosForEmptyPrompt, Is.False);
            Assert.That(SdFixture.Model.Xl, Is.Null, "SD 1.x");
        });
    }

    [Test]
    public void ATimeIdLengthThatContradictsModelIndexIsATypedErrorNamingBoth()
    {
        var folder = CopyBase("sdxl-aesthetic-");
        try
        {
            var index = Path.Combine(folder, "model_index.json");
            var json = JsonNode.Parse(File.ReadAllText(index))!;
            json["requires_aesthetics_score"] = true;
            File.WriteAllText(index, json.ToJsonString());
            var e = Assert.Throws<ModelLoadException>(() => StableDiffusionModel.Load(folder).Dispose())!;
            Assert.That(e.Message, Does.Contain("requires_aesthetics_score = true").And.Contain("6 columns").And.Contain("time_ids"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void AMissingSecondTokenizerIsNamed()
    {
        var folder = CopyBase("sdxl-missing-");
        try
        {
            Directory.Delete(Path.Combine(folder, "tokenizer_2"), recursive: true);
            var e = Assert.Throws<ModelLoadException>(() => StableDiffusionModel.Load(folder).Dispose())!;
            Assert.That(e.Message, Does.Contain("tokenizer_2/"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void TheRefinerAloneRunsOnlyImageToImage()
    {
        var e = Assert.Throws<SamplingOptionException>(() => SdxlFixture.RefinerPipeline.Generate(new StableDiffusionRequest { Prompt = "a cat", Steps = 2, Width = 64, Height = 64 }))!;
        Assert.That(e.Option, Is.EqualTo(nameof(StableDiffusionRequest.InitImage)));
        Assert.That(e.Message, Does.Contain("refiner"));
    }

    [TestCase(nameof(StableDiffusionRequest.Prompt2))]
    [TestCase(nameof(StableDiffusionRequest.ClipSkip))]
    [TestCase(nameof(StableDiffusionRequest.MicroConditioning))]
    public void SdxlOptionsOnAnSdModelAreTypedErrors(string option)
    {
        var request = option switch
        {
            nameof(StableDiffusionRequest.Prompt2) => new StableDiffusionRequest { Prompt = "a cat", Prompt2 = "a dog" },
            nameof(StableDiffusionRequest.ClipSkip) => new StableDiffusionRequest { Prompt = "a cat", ClipSkip = 1 },
            _ => new StableDiffusionRequest { Prompt = "a cat", MicroConditioning = new MicroConditioning() },
        };
        var e = Assert.Throws<SamplingOptionException>(() => SdFixture.Pipeline.Generate(request with { Steps = 2 }))!;
        Assert.That(e.Option, Is.EqualTo(option));
        Assert.That(e.Message, Does.Contain("not an SDXL export"));
    }

    [TestCase(3, "clip skip can be at most 2")]
    [TestCase(-1, "0 or more")]
    public void AClipSkipBeyondTheEncodersIsATypedErrorBeforeAnyWork(int clipSkip, string message)
    {
        var e = Assert.Throws<SamplingOptionException>(() => SdxlFixture.Pipeline.Generate(new StableDiffusionRequest { Prompt = "a cat", ClipSkip = clipSkip, Steps = 2, Width = 64, Height = 64 }))!;
        Assert.That(e.Message, Does.Contain(message));
    }

    [Test]
    public void AnExplicitEmptyNegativePromptIsEncodedWhileNoneGivesZeros()
    {
        var xl = SdxlFixture.Xl(SdxlFixture.BaseFolder);
        ModelConditioning Build(string? negative) => SdxlTextConditioner.Build(xl, new SdxlPromptBatch(["a cat"], [null], negative is null ? null : [negative], null, 0),
            1, guided: true, null, 64, 64, imageToImage: false, CancellationToken.None);
        var none = Build(null);
        var empty = Build("");
        var perRow = none.HiddenStatesRowLength;
        Assert.That(none.EncoderHiddenStates.AsSpan(0, perRow).ToArray(), Is.All.EqualTo(0f), "no negative prompt: zeros (force_zeros_for_empty_prompt)");
        Assert.That(empty.EncoderHiddenStates.AsSpan(0, perRow).ToArray().Any(v => v != 0), Is.True, "\"\" is encoded");
        Assert.That(empty.EncoderHiddenStates.AsSpan(perRow).ToArray(), Is.EqualTo(none.EncoderHiddenStates.AsSpan(perRow).ToArray()), "the prompt rows are the same");
    }

    [TestCase(1)]
    [TestCase(4)]
    public void TurboStyleRunsWithNoGuidanceAndFewTrailingStepsWithNoSpecialFlag(int steps)
    {
        var result = SdxlFixture.Pipeline.Generate(new StableDiffusionRequest
        {
            Prompt = "a cute cat", GuidanceScale = 0, Steps = steps, Sampler = "euler-ancestral", Width = 64, Height = 64, Seed = 7,
            Sampling = new SamplingOptions { TimestepSpacing = TimestepSpacing.Trailing },
        });
        Assert.That(result.UnetEvaluations, Is.EqualTo(steps), "one UNet call per step: no guidance batch");
        Assert.That(result.Timesteps[0], Is.EqualTo(999), "trailing spacing starts at the last training timestep");
        Assert.That(result.Png, Has.Count.EqualTo(1));
    }

    [Test]
    public void AFloat16VaeThatOverflowsIsATypedErrorSayingWhatToDo()
    {
        using var model = StableDiffusionModel.Load(SdxlFixture.BaseFolder, new StableDiffusionOptions { VaeFolder = TestData.Path("sdxl-synthetic", "vae-fp16-overflow") });
        var pipeline = new StableDiffusionPipeline(model, TestHost.Factory);
        var e = Assert.Throws<VaeOverflowException>(() => pipeline.Generate(new StableDiffusionRequest { Prompt = "a cat", Steps = 2, GuidanceScale = 5, Seed = 1 }))!;
        Assert.Multiple(() =>
        {
            Assert.That(e.IsFloat16, Is.True);
            Assert.That(e.Message, Does.Contain("force_upcast").And.Contain("float32").And.Contain("fp16-fix").And.Contain("--vae"));
            Assert.That(float.IsFinite(e.Value), Is.False);
        });
    }

    [Test]
    public void AVaeFromAnotherFolderIsUsed()
    {
        // The base's own folder as the "other" VAE: the same decoder, so the same picture as the default.
        using var model = StableDiffusionModel.Load(SdxlFixture.BaseFolder, new StableDiffusionOptions { VaeFolder = SdxlFixture.BaseFolder });
        var request = new StableDiffusionRequest { Prompt = "a cat", Steps = 2, GuidanceScale = 5, Seed = 3 };
        var ours = new StableDiffusionPipeline(model, TestHost.Factory).Generate(request);
        var theirs = SdxlFixture.Pipeline.Generate(request);
        Assert.That(ours.Images, Is.EqualTo(theirs.Images));
        Assert.That(model.VaeDecoder.File, Does.StartWith(Path.GetFullPath(SdxlFixture.BaseFolder)));
    }

    [Test]
    public void AHighNoiseFractionWithoutARefinerIsATypedError()
    {
        var pipeline = new StableDiffusionPipeline(SdxlFixture.Model(SdxlFixture.BaseFolder), TestHost.Factory);
        var e = Assert.Throws<SamplingOptionException>(() => pipeline.Generate(new StableDiffusionRequest { Prompt = "a cat", Steps = 4, HighNoiseFraction = 0.8 }))!;
        Assert.That(e.Message, Does.Contain("Refiner"));
    }

    [Test]
    public void BatchesAndImagesPerPromptGiveOneImageEach()
    {
        var result = SdxlFixture.Pipeline.Generate(new StableDiffusionRequest
        {
            Prompts = ["a cat", "a dog"], Prompts2 = [null, "a puppy"], NegativePrompts = ["blurry", ""], ImagesPerPrompt = 2, Steps = 2, GuidanceScale = 5, Seed = 5,
            MicroConditioning = new MicroConditioning { NegativeOriginalSize = new PixelSize(32, 32), NegativeTargetSize = new PixelSize(32, 32) },
        });
        Assert.That(result.Png, Has.Count.EqualTo(4));
        Assert.That(result.LatentShape.Batch, Is.EqualTo(4));
    }

    [Test]
    public async Task TheImageGeneratorAdapterRunsSdxlWithItsOptions()
    {
        var c = SdxlFixture.Case("X1-txt2img-euler-negative").Stages[0];
        var generator = new StableDiffusionImageGenerator(SdxlFixture.Pipeline);
        var options = new Microsoft.Extensions.AI.ImageGenerationOptions
        {
            ImageSize = new System.Drawing.Size(64, 64),
            AdditionalProperties = new() { ["negative_prompt"] = c.Text("negative_prompt"), ["seed"] = 42, ["steps"] = 5, ["guidance_scale"] = 5.0 },
        };
        var response = await generator.GenerateAsync(new Microsoft.Extensions.AI.ImageGenerationRequest(c.Text("prompt")!), options);
        var png = ((Microsoft.Extensions.AI.DataContent)response.Contents[0]).Data.ToArray();
        var ours = StbImageSharp.ImageResult.FromMemory(png, StbImageSharp.ColorComponents.RedGreenBlue).Data;
        var theirs = StbImageSharp.ImageResult.FromMemory(File.ReadAllBytes(Path.Combine(c.Case.Folder, "X1-txt2img-euler-negative.png")), StbImageSharp.ColorComponents.RedGreenBlue).Data;
        Assert.That(ours.Zip(theirs, (a, b) => Math.Abs(a - b)).Max(), Is.LessThanOrEqualTo(1));
        var request = generator.ToRequest(new Microsoft.Extensions.AI.ImageGenerationRequest("a cat"), new Microsoft.Extensions.AI.ImageGenerationOptions
        {
            AdditionalProperties = new() { ["prompt_2"] = "a dog", ["clip_skip"] = 1, ["high_noise_fraction"] = 0.8 },
            RawRepresentationFactory = _ => new StableDiffusionRequest { MicroConditioning = new MicroConditioning { AestheticScore = 7 } },
        });
        Assert.That((request.Prompt2, request.ClipSkip, request.HighNoiseFraction, request.MicroConditioning!.AestheticScore), Is.EqualTo(("a dog", 1, (double?)0.8, 7.0)));
    }

    private static string CopyBase(string prefix)
    {
        var target = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N"));
        foreach (var file in Directory.GetFiles(SdxlFixture.BaseFolder, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(target, Path.GetRelativePath(SdxlFixture.BaseFolder, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
            File.SetAttributes(to, FileAttributes.Normal);
        }
        return target;
    }
}
