using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>
/// Stable Diffusion requests are sized before any work: sizes the UNet cannot run and batches that cannot fit are
/// typed errors up front, and a request's missing height follows its width as documented.
/// </summary>
[TestFixture]
public sealed class StableDiffusionRequestRobustnessTests
{
    private static StableDiffusionRequest Small => new() { Prompt = "a cat", Steps = 2, GuidanceScale = 5, Seed = 1, Width = 64, Height = 64 };

    [TestCase(8, 8)]
    [TestCase(24, 24)]
    [TestCase(64, 24)]
    public void SizesTheUnetCannotRunAreRefusedUpFront(int width, int height)
    {
        var steps = 0;
        var e = Assert.Throws<ImageSizeException>(() => SdFixture.Pipeline.Generate(Small with { Width = width, Height = height, OnStep = (_, _) => steps++ }))!;
        Assert.That(e.Message, Does.Contain($"{width}×{height}").And.Contain("downsampling"));
        Assert.That(steps, Is.Zero);
        Assert.That(SdFixture.Pipeline.Generate(Small with { Width = 16, Height = 32 }).ImageShape, Is.EqualTo(new TensorShape(1, 3, 32, 16)), "the smallest multiples run");
    }

    [Test]
    public void AHeightOfNullIsAsTheWidth()
    {
        Assert.That(SdFixture.Pipeline.Generate(new StableDiffusionRequest { Prompt = "a cat", Steps = 1, GuidanceScale = 1, Width = 32 }).ImageShape, Is.EqualTo(new TensorShape(1, 3, 32, 32)), "was 32×512");
    }

    [Test]
    public void ABatchThatCannotFitIsRefusedBeforeAnyWork()
    {
        var steps = 0;
        var e = Assert.Throws<SamplingOptionException>(() => SdFixture.Pipeline.Generate(Small with { ImagesPerPrompt = 100_000_000, OnStep = (_, _) => steps++ }))!;
        Assert.That(e.Option, Is.EqualTo(nameof(StableDiffusionRequest.ImagesPerPrompt)));
        Assert.That(e.Message, Does.Contain("on this machine"));
        var many = Assert.Throws<SamplingOptionException>(() => SdFixture.Pipeline.Generate(Small with { Prompts = ["a", "b", "c"], ImagesPerPrompt = int.MaxValue }))!;
        Assert.That(many.Option, Does.StartWith(nameof(StableDiffusionRequest.ImagesPerPrompt)));
        Assert.That(steps, Is.Zero);
    }
}
