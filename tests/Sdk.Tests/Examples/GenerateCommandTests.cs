using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;
using Generate;

namespace Diffusion.Sdk.Tests.Examples;

/// <summary>The command line as a user runs it: every sampler, byte-identical reruns, and bad arguments that write nothing.</summary>
[TestFixture]
[NonParallelizable]
public sealed class GenerateCommandTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "generate-" + Guid.NewGuid().ToString("N"))).FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    // In-process, holding the shared console lock (other tests capture the console too).
    private static Task<(int Code, string Out, string Error)> Run(params string[] args) => Diffusion.Sdk.Tests.Robustness.Cli.Run(args);

    [TestCase("ddpm")]
    [TestCase("ddim")]
    [TestCase("dpm-solver")]
    [TestCase("euler")]
    [TestCase("euler-ancestral")]
    [TestCase("pndm")]
    public async Task EverySamplerRunsThroughTheCommandLine(string sampler)
    {
        var grid = Path.Combine(_folder, "grid.png");
        var (code, output, error) = await Run("--sampler", sampler, "--steps", "4", "--batch", "2", "--out", grid);
        Assert.That(code, Is.Zero, error);
        Assert.That(File.ReadAllBytes(grid).Take(4), Is.EqualTo(new byte[] { 137, 80, 78, 71 }));
        Assert.That(output, Does.Contain("wrote"));
    }

    [Test]
    public async Task TheSameSeedAndOptionsGiveByteIdenticalFiles()
    {
        string[] common = ["--sampler", "euler-ancestral", "--steps", "4", "--batch", "3", "--seed", "11", "--label", "5"];
        await Run([.. common, "--out", Path.Combine(_folder, "a.png"), "--out-dir", Path.Combine(_folder, "a")]);
        await Run([.. common, "--out", Path.Combine(_folder, "b.png"), "--out-dir", Path.Combine(_folder, "b")]);
        await Run(["--sampler", "euler-ancestral", "--steps", "4", "--batch", "3", "--seed", "12", "--label", "5", "--out", Path.Combine(_folder, "c.png")]);
        Assert.Multiple(() =>
        {
            Assert.That(File.ReadAllBytes(Path.Combine(_folder, "b.png")), Is.EqualTo(File.ReadAllBytes(Path.Combine(_folder, "a.png"))));
            Assert.That(Directory.GetFiles(Path.Combine(_folder, "a")).Select(Path.GetFileName), Is.EqualTo(new[] { "000.png", "001.png", "002.png" }));
            Assert.That(File.ReadAllBytes(Path.Combine(_folder, "b", "002.png")), Is.EqualTo(File.ReadAllBytes(Path.Combine(_folder, "a", "002.png"))));
            Assert.That(File.ReadAllBytes(Path.Combine(_folder, "c.png")), Is.Not.EqualTo(File.ReadAllBytes(Path.Combine(_folder, "a.png"))));
        });
    }

    [Test]
    public async Task ImagesPerPromptGivesThatManyImagesForEachPrompt()
    {
        var (code, output, error) = await Run("--model", Diffusion.Sdk.Tests.StableDiffusion.SdFixture.ModelFolder, "--prompt", "a cat", "--prompt", "a dog",
            "--images-per-prompt", "2", "--steps", "1", "--width", "32", "--height", "32", "--sampler", "ddim", "--out-dir", Path.Combine(_folder, "set"));
        Assert.That(code, Is.Zero, error);
        Assert.That(Directory.GetFiles(Path.Combine(_folder, "set")).Select(Path.GetFileName).Order(), Is.EqualTo(new[] { "000.png", "001.png", "002.png", "003.png" }), output);
    }

    [TestCase("--steps", "0")]
    [TestCase("--sampler", "nope")]
    [TestCase("--label", "x")]
    [TestCase("--label", "42")]
    [TestCase("--guidance", "-1")]
    [TestCase("--temperature", "0")]
    [TestCase("--device", "tpu")]
    [TestCase("--bogus", "1")]
    [TestCase("--model", "/nonexistent/model")]
    [TestCase("--prediction-type", "noise")]
    [TestCase("--ensemble", "ddim")]
    [TestCase("--ensemble", "ddim:x")]
    [TestCase("--ensemble", "ddim:0.5,euler:-0.5")]
    [TestCase("--ensemble", "ddim:1,nope:1")]
    [TestCase("--ensemble", "ddim:nan")]
    [TestCase("--spacing", "karras")]
    [TestCase("--spacing", "ays")] // the digits model has no published Align Your Steps schedule
    [TestCase("--scheduler-config", "trailing")]
    [TestCase("--scheduler-config", "=1")]
    [TestCase("--scheduler-config", "prediction_type=noise")]
    [TestCase("--scheduler-config", "num_train_timesteps=-5")]
    public async Task BadArgumentsExitNonZeroWithOneLineAndWriteNothing(string option, string value)
    {
        var grid = Path.Combine(_folder, "grid.png");
        var (code, _, error) = await Run(option, value, "--steps", option == "--steps" ? value : "2", "--batch", "1", "--out", grid);
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(2));
            Assert.That(error.Trim().Split('\n'), Has.Length.EqualTo(1), error);
            Assert.That(error, Does.StartWith("error: "));
            Assert.That(Directory.GetFileSystemEntries(_folder), Is.Empty, "nothing written");
        });
    }

    [Test]
    public async Task AnEnsembleRunsItsMembersAndReportsTheirModelCalls()
    {
        var grid = Path.Combine(_folder, "grid.png");
        var (code, output, error) = await Run("--ensemble", "ddim:0.5,dpm-solver:0.5", "--steps", "4", "--batch", "2", "--out", grid);
        Assert.That(code, Is.Zero, error);
        Assert.That(output, Does.Contain("ensemble(ddim:0.5, dpm-solver:0.5)").And.Contain("8 model calls"));
        var (both, _, bothError) = await Run("--ensemble", "ddim:1", "--sampler", "ddim", "--steps", "2", "--batch", "1", "--out", Path.Combine(_folder, "x.png"));
        Assert.That(both, Is.EqualTo(2));
        Assert.That(bothError, Does.Contain("not both"));
    }

    [TestCase("euler")]
    [TestCase("euler-ancestral")]
    [TestCase("dpm-solver")]
    public async Task CfgPlusPlusRunsWithTheSamplersThatHaveIt(string sampler)
    {
        var grid = Path.Combine(_folder, "grid.png");
        var (code, output, error) = await Run("--sampler", sampler, "--cfg-pp", "--steps", "4", "--batch", "2", "--out", grid);
        Assert.That(code, Is.Zero, error);
        Assert.That(File.Exists(grid));
        Assert.That(output, Does.Contain("4 model calls"), "one batch of conditional and unconditional items per step");
    }

    [TestCase("--sampler", "ddim", "--cfg-pp must be false with the 'ddim' sampler")]
    [TestCase("--sampler", "heun", "--cfg-pp must be false with the 'heun' sampler")]
    [TestCase("--guidance", "7.5", "--guidance must be CFG++'s λ")]
    public async Task CfgPlusPlusRefusesWhatItCannotRunBeforeAnyWork(string option, string value, string message)
    {
        var grid = Path.Combine(_folder, "grid.png");
        var (code, _, error) = await Run("--cfg-pp", option, value, "--steps", "2", "--batch", "1", "--out", grid);
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(2));
            Assert.That(error.Trim().Split('\n'), Has.Length.EqualTo(1), error);
            Assert.That(error, Does.Contain(message));
            Assert.That(Directory.GetFileSystemEntries(_folder), Is.Empty, "nothing written");
        });
    }

    // --scheduler-config goes through the same path as the model's file: a key set there equals the option that sets it.
    [Test]
    public async Task ASchedulerConfigKeyActsAsTheOptionThatSetsIt()
    {
        string[] common = ["--sampler", "ddim", "--steps", "3", "--batch", "2", "--seed", "4", "--label", "3"];
        await Run([.. common, "--timestep-spacing", "leading", "--out", Path.Combine(_folder, "option.png")]);
        var (code, _, error) = await Run([.. common, "--scheduler-config", "timestep_spacing=leading", "--out", Path.Combine(_folder, "key.png")]);
        await Run([.. common, "--out", Path.Combine(_folder, "model.png")]);
        Assert.That(code, Is.Zero, error);
        Assert.Multiple(() =>
        {
            Assert.That(File.ReadAllBytes(Path.Combine(_folder, "key.png")), Is.EqualTo(File.ReadAllBytes(Path.Combine(_folder, "option.png"))));
            Assert.That(File.ReadAllBytes(Path.Combine(_folder, "key.png")), Is.Not.EqualTo(File.ReadAllBytes(Path.Combine(_folder, "model.png"))),
                "the model's own file says trailing");
        });
    }

    [Test]
    public async Task ListSamplersPrintsTheRegistryWithPluginsAndExits()
    {
        var (code, output, error) = await Run("--list-samplers", "--plugins", Diffusion.Sdk.Tests.Plugins.ExamplePluginFolder.Path);
        Assert.That(code, Is.Zero, error);
        var names = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(' ', 2)[0]).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(names, Is.SupersetOf(TestHost.Factory.Names), "every built-in sampler");
            Assert.That(names, Does.Contain(Diffusion.Sdk.Tests.Plugins.ExamplePluginFolder.SamplerName), "the plugin's sampler");
            Assert.That(output, Does.Contain("DDIMScheduler").And.Contain("Diffusion.Sdk.Samplers.Ddim"), "its reference class and assembly");
            Assert.That(Directory.GetFileSystemEntries(_folder), Is.Empty, "nothing written");
        });
    }

    [Test]
    public async Task HelpListsEveryOption()
    {
        var (code, output, _) = await Run("--help");
        Assert.That(code, Is.Zero);
        foreach (var option in new[] { "--model", "--sampler", "--ensemble", "--steps", "--guidance", "--label", "--seed", "--batch", "--images-per-prompt", "--out", "--out-dir", "--karras", "--threshold",
                     "--temperature", "--noise-injection", "--eta", "--device", "--num-train-timesteps", "--prediction-type", "--sample-input", "--timestep-input", "--plugins", "--scheduler-config", "--list-samplers" })
            Assert.That(output, Does.Contain(option));
        // The sampler list comes from the registrations: a new built-in sampler shows without touching the CLI.
        foreach (var sampler in TestHost.Factory.Names)
            Assert.That(output, Does.Contain(sampler + ","), sampler);
    }
}
