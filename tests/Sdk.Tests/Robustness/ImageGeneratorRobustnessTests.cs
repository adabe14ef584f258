using System.Text.Json;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;
using Microsoft.Extensions.AI;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>
/// The <see cref="IImageGenerator"/> adapter maps every option faithfully or refuses it with a typed error naming it:
/// seeds and step counts as exact integers, text options as text only, a null prompt refused, start images as data or
/// file:// URIs only.
/// </summary>
[TestFixture]
public sealed class ImageGeneratorRobustnessTests
{
    private static readonly StableDiffusionImageGenerator Generator = new(SdFixture.Pipeline);

    private static StableDiffusionRequest Map(string key, object? value) =>
        Generator.ToRequest(new ImageGenerationRequest("a cat"), new ImageGenerationOptions { AdditionalProperties = new() { [key] = value } });

    [Test]
    public void SeedsAreExactIntegers()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Map("seed", 9007199254740993UL).Seed, Is.EqualTo(9007199254740993UL), "2^53 + 1 stays odd");
            Assert.That(Map("seed", 9007199254740993L).Seed, Is.EqualTo(9007199254740993UL));
            Assert.That(Map("seed", JsonDocument.Parse("18446744073709551615").RootElement).Seed, Is.EqualTo(ulong.MaxValue), "a JSON seed keeps its last digits");
            Assert.That(Map("seed", "12345678901234567").Seed, Is.EqualTo(12345678901234567UL));
            Assert.That(Map("seed", 42.0).Seed, Is.EqualTo(42UL), "an integral double is that integer");
        });
    }

    [TestCase("seed", -1)]
    [TestCase("seed", double.NaN)]
    [TestCase("seed", 1.5)]
    [TestCase("seed", "abc")]
    [TestCase("seed", "18446744073709551616")]
    [TestCase("steps", 2.9)]
    [TestCase("steps", 0)]
    [TestCase("steps", double.PositiveInfinity)]
    [TestCase("clip_skip", -1)]
    [TestCase("original_inference_steps", 2.5)]
    [TestCase("guidance_scale", "lots")]
    public void ValuesAnOptionCannotTakeAreRefusedNamingIt(string key, object value)
    {
        var e = Assert.Throws<SamplingOptionException>(() => Map(key, value))!;
        Assert.That(e.Option, Is.EqualTo(key));
    }

    [Test]
    public void OptionsOfUnknownTypesAreRefusedNotConvertedToText()
    {
        foreach (var key in new[] { "negative_prompt", "prompt_2", "sampler" })
        {
            Assert.That(() => Map(key, new object()), Throws.TypeOf<SamplingOptionException>().With.Property(nameof(SamplingOptionException.Option)).EqualTo(key));
            Assert.That(() => Map(key, 5), Throws.TypeOf<SamplingOptionException>().With.Property(nameof(SamplingOptionException.Option)).EqualTo(key));
        }
        Assert.That(() => Map("steps", new object()), Throws.TypeOf<SamplingOptionException>());
        Assert.That(() => Map("strength", new object()), Throws.TypeOf<SamplingOptionException>());
        Assert.That(Map("negative_prompt", JsonDocument.Parse("\"blurry\"").RootElement).NegativePrompt, Is.EqualTo("blurry"));
        Assert.That(Map("steps", JsonDocument.Parse("7").RootElement).Steps, Is.EqualTo(7));
    }

    [Test]
    public void ANullPromptIsRefusedNotMadeUnconditional()
    {
        var e = Assert.Throws<SamplingOptionException>(() => Generator.ToRequest(new ImageGenerationRequest(), null))!;
        Assert.That(e.Option, Is.EqualTo("Prompt"));
        // A starting request with its own prompts is still a way to give them.
        var raw = Generator.ToRequest(new ImageGenerationRequest(), new ImageGenerationOptions { RawRepresentationFactory = _ => new StableDiffusionRequest { Prompts = ["a", "b"] } });
        Assert.That(raw.Prompts, Is.EqualTo(new[] { "a", "b" }));
        Assert.That(Generator.ToRequest(new ImageGenerationRequest(""), null).Prompt, Is.EqualTo(""), "the empty prompt is a prompt");
    }

    [Test]
    public void FileUriImagesAreReadAndOtherAddressesRefused()
    {
        var png = Path.Combine(Path.GetTempPath(), "start-" + Guid.NewGuid().ToString("N") + ".png");
        File.WriteAllBytes(png, [1, 2, 3]);
        try
        {
            var request = Generator.ToRequest(new ImageGenerationRequest("a cat", [new UriContent(new Uri(png), "image/png")]), null);
            Assert.That(request.InitImage, Is.EqualTo(new byte[] { 1, 2, 3 }));
        }
        finally
        {
            File.Delete(png);
        }
        var web = Assert.Throws<SamplingOptionException>(() => Generator.ToRequest(new ImageGenerationRequest("a cat", [new UriContent(new Uri("https://example.com/cat.png"), "image/png")]), null))!;
        Assert.That(web.Option, Is.EqualTo(nameof(ImageGenerationRequest.OriginalImages)));
        Assert.That(web.Message, Does.Contain("https://example.com/cat.png"));
        Assert.That(() => Generator.ToRequest(new ImageGenerationRequest("a cat", [new UriContent(new Uri(png), "image/png")]), null),
            Throws.TypeOf<InvalidImageException>().With.Message.Contains(Path.GetFileName(png)), "a missing file is named");
        Assert.That(() => Generator.ToRequest(new ImageGenerationRequest("a cat", [new TextContent("a picture")]), null), Throws.TypeOf<SamplingOptionException>());
    }
}
