using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Plugins;
using Diffusion.Sdk.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>
/// Faulty plugins: one that claims a built-in name is refused at load and listed in the report while every
/// built-in keeps working; one whose factory or step throws ends the run with one error naming the sampler,
/// the plugin and the cause, in the API and on the command line.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class PluginRobustnessTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = PluginCompiler.NewFolder();

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    private const string Throwing = """
        using Diffusion.Sdk.Abstractions;
        using Diffusion.Sdk.Sampling;
        using Diffusion.Sdk;

        namespace Faulty;

        public sealed class BrokenSampler(SchedulerConfig config) : SamplerBase("broken", config)
        {
            protected override double[] CreateTimesteps(int n) => TimestepSpacings.Create(TimestepSpacing.Trailing, Schedule.NumTrainTimesteps, n);
            protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise) =>
                throw new System.InvalidOperationException("the step's tables are empty");
        }

        public sealed class Plugin : ISamplerPlugin
        {
            public void Register(IDiffusionBuilder builder)
            {
                builder.AddSampler(new SamplerRegistration("broken", (config, _) => new BrokenSampler(config)));
                builder.AddSampler(new SamplerRegistration("unbuildable", (config, _) => throw new System.IO.FileNotFoundException("weights.bin is missing")));
            }
        }
        """;

    [TestCase("ddim")]
    [TestCase("Euler")]
    [TestCase("DPM-SOLVER")]
    public void APluginClaimingABuiltInNameIsRefusedAndTheBuiltInsKeepWorking(string name)
    {
        var file = PluginCompiler.Compile(_folder, "Vendor.Clash", PluginDiscoveryTests.PluginSource.Replace("NAME", name));
        using var provider = TestHost.Build(b => b.AddPluginsFrom(_folder));
        var report = provider.GetRequiredService<PluginLoadReport>();
        Assert.That(report.Loaded, Is.Empty);
        Assert.That(report.Failures.Single().File, Is.EqualTo(file));
        Assert.That(report.Failures.Single().Reason, Does.Contain($"'{name}'").And.Contain("built-in"));
        var factory = provider.GetRequiredService<ISamplerFactory>();
        foreach (var builtIn in new[] { "ddim", "euler", "dpm-solver" })
            Assert.That(factory.Create(builtIn).GetType().Assembly.GetName().Name, Does.StartWith("Diffusion.Sdk.Samplers."), builtIn);
    }

    [Test]
    public void APluginClaimingAHostSamplerRegisteredAfterItIsRefusedByTheFactory()
    {
        PluginCompiler.Compile(_folder, "Vendor.Late", PluginDiscoveryTests.PluginSource.Replace("NAME", "house"));
        var services = new ServiceCollection();
        var builder = services.AddDiffusionSampling().AddPluginsFrom(_folder);
        builder.AddDdimSampler();
        builder.AddSampler(new SamplerRegistration("HOUSE", (c, s) => TestHost.Factory.Create("ddim", c)));
        using var provider = services.BuildServiceProvider();
        var factory = provider.GetRequiredService<ISamplerFactory>();
        Assert.That(factory.Names, Does.Contain("HOUSE").And.Contain("ddim"));
        var report = provider.GetRequiredService<PluginLoadReport>();
        Assert.That(report.Loaded, Is.Empty);
        Assert.That(report.Failures.Single().Reason, Does.Contain("'house'"));
    }

    [TestCase("broken", "taking step 0")]
    [TestCase("unbuildable", "being created")]
    public void APluginThatThrowsEndsTheRunWithOneErrorNamingItAndTheCause(string sampler, string doing)
    {
        PluginCompiler.Compile(_folder, "Vendor.Faulty", Throwing);
        using var provider = TestHost.Build(b => b.AddPluginsFrom(_folder));
        var pipeline = new DiffusionPipeline(new ClosedFormModel(), provider.GetRequiredService<ISamplerFactory>());
        var error = Assert.Throws<SamplerFailedException>(() => pipeline.Generate(new GenerationRequest
        {
            Sampling = new SamplingOptions { Sampler = sampler, Steps = 3 }, ClassLabel = 1,
        }))!;
        Assert.That(error.Sampler, Is.EqualTo(sampler));
        Assert.That(error.Message, Does.Contain("Vendor.Faulty.dll").And.Contain(doing).And.Contain(sampler));
        Assert.That(error.Message, Does.Contain(sampler == "broken" ? "InvalidOperationException: the step's tables are empty" : "weights.bin is missing"));
        Assert.That(error.Message, Does.Not.Contain("\n"));
    }

    [TestCase("broken", "the step's tables are empty")]
    [TestCase("unbuildable", "weights.bin is missing")]
    public async Task OnTheCommandLineAFaultyPluginIsOneLineAndExit1(string sampler, string cause)
    {
        PluginCompiler.Compile(_folder, "Vendor.Faulty", Throwing);
        var grid = Path.Combine(_folder, "grid.png");
        var (code, _, error) = await Cli.Run("--plugins", _folder, "--sampler", sampler, "--steps", "2", "--batch", "1", "--out", grid);
        Assert.That(code, Is.EqualTo(1), error);
        Cli.AssertOneLineError(error, sampler, "Vendor.Faulty.dll", cause);
        Assert.That(File.Exists(grid), Is.False);
    }

    [Test]
    public async Task OnTheCommandLineAClashingPluginIsReportedOnStderrAndTheBuiltInStillRuns()
    {
        PluginCompiler.Compile(_folder, "Vendor.Clash", PluginDiscoveryTests.PluginSource.Replace("NAME", "ddim"));
        var grid = Path.Combine(_folder, "out", "grid.png");
        var (code, output, error) = await Cli.Run("--plugins", _folder, "--sampler", "ddim", "--steps", "2", "--batch", "1", "--out", grid);
        Assert.That(code, Is.Zero, error);
        Assert.That(error, Does.Contain("Vendor.Clash.dll").And.Contain("'ddim'"), "the refusal is logged to stderr");
        Assert.That(output, Does.Not.Contain("Vendor.Clash"), "nothing of it on stdout");
        Assert.That(File.Exists(grid), Is.True);
    }
}
