using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.StableDiffusion;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using StbImageSharp;

namespace Diffusion.Sdk.Tests.StableDiffusion;

/// <summary>The one-call registration and the Microsoft.Extensions.AI adapter, on the tiny fixture.</summary>
[TestFixture]
public sealed class StableDiffusionHostingTests
{
    /// <summary>The one call promises every built-in sampler: each <see cref="SamplerNames"/> constant resolves, by name and by its reference class.</summary>
    [Test]
    public async Task OneRegistrationCallRegistersEveryBuiltInSampler()
    {
        var services = new ServiceCollection();
        services.AddBuiltInSamplers().AddStableDiffusion(SdFixture.ModelFolder).AddDpmAdaptiveSampler(); // the same assembly again is harmless
        await using var provider = services.BuildServiceProvider();
        var factory = provider.GetRequiredService<ISamplerFactory>();
        var builtIn = typeof(SamplerNames).GetFields().Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!).Order(StringComparer.Ordinal).ToArray();
        Assert.That(builtIn, Has.Length.GreaterThanOrEqualTo(16));
        Assert.That(factory.Names, Is.EquivalentTo(builtIn));
        foreach (var className in new[] { "LCMScheduler", "TCDScheduler", "HeunDiscreteScheduler", "LMSDiscreteScheduler", "EulerDiscreteScheduler", "PNDMScheduler" })
            Assert.That(factory.Create(new SchedulerConfig { ClassName = className }), Is.Not.Null, className);
    }

    [Test]
    public async Task OneRegistrationCallGivesAPipelineAndAnImageGeneratorOverOneModel()
    {
        var services = new ServiceCollection();
        services.AddBuiltInSamplers().AddStableDiffusion(SdFixture.ModelFolder);
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        var pipeline = provider.GetRequiredService<StableDiffusionPipeline>();
        var generator = provider.GetRequiredService<IImageGenerator>();
        Assert.That(generator.GetService(typeof(StableDiffusionModel)), Is.SameAs(provider.GetRequiredService<StableDiffusionModel>()));
        Assert.That(pipeline.Model, Is.SameAs(provider.GetRequiredService<StableDiffusionModel>()));

        // Case A1 through the adapter: the same PNG as the pipeline gives directly.
        var c = SdFixture.Case("A1-txt2img-pndm");
        var response = await generator.GenerateAsync(new ImageGenerationRequest(c.Prompt), new ImageGenerationOptions
        {
            ImageSize = new System.Drawing.Size(64, 64),
            AdditionalProperties = new AdditionalPropertiesDictionary { ["seed"] = 42, ["steps"] = c.Steps, ["guidance_scale"] = c.GuidanceScale },
        });
        var png = response.Contents.OfType<DataContent>().Single();
        Assert.That(png.MediaType, Is.EqualTo("image/png"));
        var direct = await pipeline.GenerateAsync(SdFixture.Request(c));
        Assert.That(png.Data.ToArray(), Is.EqualTo(direct.Png[0]));
        var theirs = ImageResult.FromMemory(c.ImagePng, ColorComponents.RedGreenBlue).Data;
        var ours = ImageResult.FromMemory(direct.Png[0], ColorComponents.RedGreenBlue).Data;
        Assert.That(ours.Zip(theirs, (a, b) => Math.Abs(a - b)).Max(), Is.LessThanOrEqualTo(1));
    }

    [Test]
    public void TheAdapterMapsStartImagesCountsAndOptions()
    {
        var generator = new StableDiffusionImageGenerator(SdFixture.Pipeline);
        var request = generator.ToRequest(new ImageGenerationRequest("a cat", [new DataContent(new byte[] { 1, 2 }, "image/png")]), new ImageGenerationOptions
        {
            Count = 3,
            AdditionalProperties = new AdditionalPropertiesDictionary { ["negative_prompt"] = "blurry", ["strength"] = 0.5, ["sampler"] = "euler" },
        });
        Assert.Multiple(() =>
        {
            Assert.That(request.Prompt, Is.EqualTo("a cat"));
            Assert.That(request.ImagesPerPrompt, Is.EqualTo(3));
            Assert.That(request.NegativePrompt, Is.EqualTo("blurry"));
            Assert.That(request.Strength, Is.EqualTo(0.5));
            Assert.That(request.Sampler, Is.EqualTo("euler"));
            Assert.That(request.InitImage, Is.EqualTo(new byte[] { 1, 2 }));
        });
    }

    [Test]
    public void TheAdapterMapsAMaskAndTheDistillationScheduleLength()
    {
        var generator = new StableDiffusionImageGenerator(SdFixture.Pipeline);
        var request = generator.ToRequest(new ImageGenerationRequest("a cat", [new DataContent(new byte[] { 1, 2 }, "image/png")]), new ImageGenerationOptions
        {
            AdditionalProperties = new AdditionalPropertiesDictionary { ["mask"] = new DataContent(new byte[] { 3, 4 }, "image/png"), ["original_inference_steps"] = 20 },
        });
        Assert.That(request.Mask, Is.EqualTo(new byte[] { 3, 4 }));
        Assert.That(request.OriginalInferenceSteps, Is.EqualTo(20));
        var raw = generator.ToRequest(new ImageGenerationRequest("a cat"), new ImageGenerationOptions
        {
            RawRepresentationFactory = _ => new StableDiffusionRequest { Mask = [5], OriginalInferenceSteps = 30 },
        });
        Assert.That((raw.Mask, raw.OriginalInferenceSteps), Is.EqualTo((new byte[] { 5 }, 30)));
        var wrongType = Assert.Throws<SamplingOptionException>(() => generator.ToRequest(new ImageGenerationRequest("a"), new ImageGenerationOptions
        {
            AdditionalProperties = new AdditionalPropertiesDictionary { ["mask"] = 7 },
        }));
        Assert.That(wrongType!.Message, Does.Contain("mask").And.Contain("7"));
        var web = Assert.Throws<SamplingOptionException>(() => generator.ToRequest(new ImageGenerationRequest("a"), new ImageGenerationOptions
        {
            AdditionalProperties = new AdditionalPropertiesDictionary { ["mask"] = new UriContent(new Uri("https://example.com/mask.png"), "image/png") },
        }));
        Assert.That(web!.Message, Does.Contain("mask").And.Contain("https://example.com/mask.png"));
        var json = generator.ToRequest(new ImageGenerationRequest("a"), new ImageGenerationOptions
        {
            AdditionalProperties = new AdditionalPropertiesDictionary { ["mask"] = System.Text.Json.JsonDocument.Parse("\"AwQ=\"").RootElement },
        });
        Assert.That(json.Mask, Is.EqualTo(new byte[] { 3, 4 }), "base64 text in JSON");
    }
}
