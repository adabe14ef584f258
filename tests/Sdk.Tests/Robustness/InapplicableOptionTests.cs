using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;
using Diffusion.Sdk.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>Options that do not apply to a run are not ignored silently: a warning on stderr (command line) or the logger (API), and the run goes on.</summary>
[TestFixture]
public sealed class InapplicableOptionTests
{
    [TestCase("--strength", "0.5", "--strength has no effect without --init-image")]
    [TestCase("--label", "3", "--label has no effect with --prompt")]
    public async Task OnTheCommandLineAnOptionThatDoesNotApplyIsAWarning(string option, string? value, string warning)
    {
        var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "robust-warn-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            string[] extra = value is null ? [option] : [option, value];
            var (code, _, error) = await Cli.Run(["--model", SdFixture.ModelFolder, "--prompt", "a cat", "--steps", "1", "--width", "32", "--height", "32",
                "--out", Path.Combine(folder, "cat.png"), .. extra]);
            Assert.That(code, Is.Zero, error);
            Assert.That(error, Does.Contain("warning: " + warning));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public async Task StatsWithAPromptPrintsOneLinePerStepAndNoWarning()
    {
        var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "robust-stats-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var (code, output, error) = await Cli.Run(["--model", SdFixture.ModelFolder, "--prompt", "a cat", "--steps", "3", "--width", "32", "--height", "32",
                "--sampler", "ddim", "--out", Path.Combine(folder, "cat.png"), "--stats"]);
            Assert.That(code, Is.Zero, error);
            Assert.That(error, Does.Not.Contain("warning"));
            Assert.That(output.Split('\n').Count(l => l.StartsWith("step ", StringComparison.Ordinal) && l.Contains(" output [", StringComparison.Ordinal)), Is.EqualTo(3), output);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void InTheApiStatisticsAreCollectedPerStepWithoutChangingTheResult()
    {
        var pipeline = new StableDiffusionPipeline(SdFixture.Model, TestHost.Factory);
        var request = new StableDiffusionRequest { Prompt = "a cat", Steps = 3, Width = 32, Height = 32, Seed = 5 };
        var plain = pipeline.Generate(request);
        var measured = pipeline.Generate(request with { CollectStatistics = true });
        Assert.That(plain.Statistics, Is.Null);
        Assert.That(measured.Statistics, Has.Count.EqualTo(measured.UnetEvaluations), "one line per UNet call (the shipped PNDM calls it 4 times in 3 steps)");
        Assert.That(measured.Statistics!.Select(s => s.ModelOutput.Std), Has.All.GreaterThan(0f));
        Assert.That(measured.Latents, Is.EqualTo(plain.Latents), "collecting statistics leaves the result bit-identical");
    }

    [Test]
    public void InTheApiAStrengthWithoutAStartImageIsLogged()
    {
        var log = new ListLogger();
        using var factory = LoggerFactory.Create(b => b.AddProvider(log));
        var pipeline = new StableDiffusionPipeline(SdFixture.Model, TestHost.Factory, factory.CreateLogger<StableDiffusionPipeline>());
        pipeline.Generate(new StableDiffusionRequest { Prompt = "a cat", Steps = 1, GuidanceScale = 1, Width = 32, Height = 32, Strength = 0.3 });
        Assert.That(log.Warnings, Has.Some.Contains("Strength 0.3 has no effect"));
        log.Warnings.Clear();
        pipeline.Generate(new StableDiffusionRequest { Prompt = "a cat", Steps = 1, GuidanceScale = 1, Width = 32, Height = 32 });
        Assert.That(log.Warnings, Is.Empty, "the default strength says nothing");
    }
}
