using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Diffusion.Sdk.Tests.Plugins;

/// <summary>Third-party samplers: built as separate assemblies against the public API, dropped in a folder, found and used through the factory.</summary>
[TestFixture]
public sealed class PluginDiscoveryTests
{
    // A complete third-party sampler in one file: deterministic DDIM restated through the public API only.
    internal const string PluginSource = """
        using Diffusion.Sdk.Abstractions;
        using Diffusion.Sdk.Sampling;
        using Diffusion.Sdk;

        namespace ThirdParty;

        public sealed class JumpSampler(SchedulerConfig config) : SamplerBase("NAME", config)
        {
            protected override double[] CreateTimesteps(int n) => TimestepSpacings.Create(TimestepSpacing.Trailing, Schedule.NumTrainTimesteps, n);

            protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
            {
                var n = input.Sample.Length;
                var abar = Schedule.AlphasCumprod[TrainingIndex(input.Timestep)];
                var abarNext = AlphaCumprodOrFinal(NextTimestep(stepIndex), 1.0);
                var x0 = Buffer(0, n);
                var eps = Buffer(1, n);
                PredictionMath.ToSample(Config.PredictionType, input.ModelOutput, input.Sample, System.Math.Sqrt(abar), System.Math.Sqrt(1 - abar), x0);
                PredictionMath.ToEpsilon(Config.PredictionType, input.ModelOutput, input.Sample, System.Math.Sqrt(abar), System.Math.Sqrt(1 - abar), eps);
                PredictionMath.Combine((float)System.Math.Sqrt(abarNext), x0, (float)System.Math.Sqrt(1 - abarNext), eps, output.PrevSample);
                return false;
            }
        }

        public sealed class Plugin : ISamplerPlugin
        {
            public void Register(IDiffusionBuilder builder) =>
                builder.AddSampler(new SamplerRegistration("NAME", (config, _) => new JumpSampler(config)));
        }
        """;

    private const string ThrowingPluginSource = """
        namespace Broken;
        public sealed class Plugin : Diffusion.Sdk.Abstractions.ISamplerPlugin
        {
            public void Register(Diffusion.Sdk.Abstractions.IDiffusionBuilder builder)
            {
                builder.AddSampler(new Diffusion.Sdk.Abstractions.SamplerRegistration("half-registered", (c, _) => throw new System.NotSupportedException()));
                throw new System.InvalidOperationException("the license file is missing");
            }
        }
        """;

    // Another major release of the SDK, reduced to what the old plugin below uses, and a plugin built against it.
    private const string OtherSdkSource = """
        namespace Diffusion.Sdk.Abstractions
        {
            public interface ISamplerPlugin { void Register(object builder); }
        }
        """;

    private const string OtherSdkPluginSource = """
        namespace Legacy;
        public sealed class Plugin : Diffusion.Sdk.Abstractions.ISamplerPlugin
        {
            public void Register(object builder) { }
        }
        """;

    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = PluginCompiler.NewFolder();

    [TearDown]
    public void DeleteFolder()
    {
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { /* a loaded plugin may still be mapped */ } catch (UnauthorizedAccessException) { }
    }

    [Test]
    public void APluginFromAFolderSamplesThroughTheFactory()
    {
        PluginCompiler.Compile(_folder, "ThirdParty.Jump", PluginSource.Replace("NAME", "jump"));
        using var provider = TestHost.Build(b => b.AddPluginsFrom(_folder));
        var factory = provider.GetRequiredService<ISamplerFactory>();

        Assert.That(factory.Names, Does.Contain("jump").And.Contain("ddim"));
        var sampler = factory.Create("jump", new SchedulerConfig());
        var data = new GaussianData(0.5, 0.2);
        var error = ClosedFormSampling.EndpointError(ClosedFormSampling.Sample(sampler, 200, data, 500, seed: 3), data);
        Assert.That(error, Is.LessThan(0.05), "the plugin's sampler converges like the DDIM it restates");
        Assert.That(provider.GetRequiredService<PluginLoadReport>().Loaded, Has.Count.EqualTo(1));
    }

    [Test]
    public void AFailingPluginIsReportedByFileAndTheOthersStillWork()
    {
        PluginCompiler.Compile(_folder, "ThirdParty.Jump", PluginSource.Replace("NAME", "jump"));
        PluginCompiler.Compile(_folder, "Broken.Plugin", ThrowingPluginSource);
        File.WriteAllBytes(Path.Combine(_folder, "garbage.dll"), [0x4D, 0x5A, 0x00, 0x01, 0x02]);

        using var provider = TestHost.Build(b => b.AddPluginsFrom(_folder));
        var report = provider.GetRequiredService<PluginLoadReport>();
        var factory = provider.GetRequiredService<ISamplerFactory>();
        Assert.Multiple(() =>
        {
            Assert.That(report.Failures.Select(f => Path.GetFileName(f.File)), Is.EquivalentTo(new[] { "Broken.Plugin.dll", "garbage.dll" }));
            Assert.That(report.Failures.Single(f => f.File.EndsWith("Broken.Plugin.dll")).Reason, Does.Contain("the license file is missing"));
            Assert.That(factory.Names, Does.Contain("jump"));
            Assert.That(factory.Names, Does.Not.Contain("half-registered"), "a plugin that throws leaves nothing registered");
        });
    }

    [Test]
    public void APluginBuiltAgainstAnotherMajorSdkVersionIsReportedByNameAndTheOthersStillWork()
    {
        PluginCompiler.Compile(_folder, "ThirdParty.Jump", PluginSource.Replace("NAME", "jump"));
        PluginCompiler.Compile(_folder, "Legacy.Plugin", OtherSdkPluginSource, sdk: PluginCompiler.OtherSdk(new Version(99, 0, 0, 0), OtherSdkSource));

        using var provider = TestHost.Build(b => b.AddPluginsFrom(_folder));
        var report = provider.GetRequiredService<PluginLoadReport>();
        var factory = provider.GetRequiredService<ISamplerFactory>();
        var failure = report.Failures.Single();
        TestContext.Out.WriteLine($"{Path.GetFileName(failure.File)}: {failure.Reason}");
        Assert.Multiple(() =>
        {
            Assert.That(Path.GetFileName(failure.File), Is.EqualTo("Legacy.Plugin.dll"));
            Assert.That(failure.Reason, Does.Contain("built against Diffusion.Sdk.Abstractions 99.0.0.0").And.Contain("major versions differ"));
            Assert.That(report.Loaded.Select(Path.GetFileName), Is.EqualTo(new[] { "ThirdParty.Jump.dll" }));
            Assert.That(factory.Names, Does.Contain("jump").And.Contain("ddim"), "the host and the other plugins keep working");
        });
    }

    [Test]
    public void PluginsOutsideTheNamedFolderAreNeverLoaded()
    {
        var named = Path.Combine(_folder, "plugins");
        PluginCompiler.Compile(named, "ThirdParty.Jump", PluginSource.Replace("NAME", "jump"));
        PluginCompiler.Compile(Path.Combine(_folder, "sibling"), "Vendor.Sibling", PluginSource.Replace("NAME", "sibling").Replace("ThirdParty", "Sibling"));
        PluginCompiler.Compile(Path.Combine(named, "nested"), "Vendor.Nested", PluginSource.Replace("NAME", "nested").Replace("ThirdParty", "Nested"));
        PluginCompiler.Compile(_folder, "Vendor.Parent", PluginSource.Replace("NAME", "parent").Replace("ThirdParty", "Parent"));

        using var provider = TestHost.Build(b => b.AddPluginsFrom(named));
        var factory = provider.GetRequiredService<ISamplerFactory>();
        var loaded = System.Runtime.Loader.AssemblyLoadContext.All.SelectMany(c => c.Assemblies).Select(a => a.GetName().Name).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(factory.Names, Does.Contain("jump"));
            Assert.That(factory.Names, Has.None.AnyOf("sibling", "nested", "parent"), "only the named folder's own files are plugins");
            Assert.That(loaded, Has.None.AnyOf("Vendor.Sibling", "Vendor.Nested", "Vendor.Parent"), "not loaded at all, not merely left unregistered");
            Assert.That(provider.GetRequiredService<PluginLoadReport>().Failures, Is.Empty);
        });
    }

    [Test]
    public void TwoPluginsRegisteringOneNameIsAnErrorNamingBoth()
    {
        PluginCompiler.Compile(_folder, "Vendor.A", PluginSource.Replace("NAME", "same").Replace("ThirdParty", "VendorA"));
        PluginCompiler.Compile(_folder, "Vendor.B", PluginSource.Replace("NAME", "same").Replace("ThirdParty", "VendorB"));
        using var provider = TestHost.Build(b => b.AddPluginsFrom(_folder));
        var error = Assert.Throws<DiffusionException>(() => provider.GetRequiredService<ISamplerFactory>())!;
        Assert.That(error.Message, Does.Contain("Vendor.A.dll").And.Contain("Vendor.B.dll").And.Contain("'same'"));
    }

    [Test]
    public void AMissingFolderIsReportedNotThrown()
    {
        using var provider = TestHost.Build(b => b.AddPluginsFrom(Path.Combine(_folder, "absent")));
        Assert.That(provider.GetRequiredService<PluginLoadReport>().Failures.Single().Reason, Does.Contain("does not exist"));
        Assert.That(provider.GetRequiredService<ISamplerFactory>().Names, Does.Contain("ddpm"));
    }
}
