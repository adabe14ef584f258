using System.Runtime.Loader;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Diffusion.Sdk.Tests.Plugins;

/// <summary>The example plugin (examples/Dpmpp2sAncestralSampler) as a host gets it: its build output folder, loaded at run time.</summary>
internal static class ExamplePluginFolder
{
    /// <summary>The sampler the plugin registers.</summary>
    public const string SamplerName = "dpmpp-2s-ancestral";

    /// <summary>The copy of examples/Dpmpp2sAncestralSampler/bin/&lt;Configuration&gt;/net10.0/ the test build makes.</summary>
    public static string Path { get; } = System.IO.Path.Combine(AppContext.BaseDirectory, "plugins", "dpmpp-2s-ancestral");

    private static readonly Lazy<ServiceProvider> Provider = new(() => Load(b => { }));

    /// <summary>A host with no sampler but the ones the plugin folder brings.</summary>
    public static ISamplerFactory Factory => Provider.Value.GetRequiredService<ISamplerFactory>();

    /// <summary>A fresh DI host: <c>AddDiffusionSampling()</c>, whatever <paramref name="configure"/> adds, then <c>AddPluginsFrom(Path)</c>.</summary>
    public static ServiceProvider Load(Action<IDiffusionBuilder> configure)
    {
        var services = new ServiceCollection();
        var builder = services.AddDiffusionSampling();
        configure(builder);
        builder.AddPluginsFrom(Path);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
    }
}

/// <summary>The conformance kit, run against <c>dpmpp-2s-ancestral</c> exactly as a plugin author runs it: the sampler comes from the plugin folder.</summary>
public sealed class Dpmpp2sAncestralConformance : SamplerConformanceTests
{
    protected override ISampler CreateSampler(SchedulerConfig config) => ExamplePluginFolder.Factory.Create(ExamplePluginFolder.SamplerName, config);

    protected override SamplerKind Kind => SamplerKind.Stochastic;

    // Ancestral steps lose (1 − σ_down/σ)²·Var[x₀ | x] of variance per step (see EulerAncestralConformance), so
    // they need fine steps on this data: at 1000 steps the std is 0.6 % low and the mean within 2.3 standard errors.
    protected override int DistributionSteps => 1000;
}

[TestFixture]
public sealed class Dpmpp2sAncestralPluginTests
{
    [Test]
    public void ThePluginFolderHoldsThePluginAndNotTheSdk()
    {
        var files = Directory.GetFiles(ExamplePluginFolder.Path).Select(Path.GetFileName).ToArray();
        Assert.That(files, Does.Contain("Dpmpp2sAncestralSampler.dll"));
        Assert.That(files, Has.None.StartsWith("Diffusion."), "the host supplies the SDK; a copy next to the plugin would shadow nothing and only mislead");

        using var provider = ExamplePluginFolder.Load(b => { });
        var report = provider.GetRequiredService<PluginLoadReport>();
        Assert.Multiple(() =>
        {
            Assert.That(report.Loaded.Select(Path.GetFileName), Is.EqualTo(new[] { "Dpmpp2sAncestralSampler.dll" }));
            Assert.That(report.Failures, Is.Empty);
        });
    }

    [Test]
    public void ItLoadsThroughDiNextToTheBuiltInSamplersInItsOwnLoadContext()
    {
        using var provider = ExamplePluginFolder.Load(TestHost.AddBuiltInSamplers);
        var factory = provider.GetRequiredService<ISamplerFactory>();
        var sampler = factory.Create(ExamplePluginFolder.SamplerName);
        var context = AssemblyLoadContext.GetLoadContext(sampler.GetType().Assembly);
        Assert.Multiple(() =>
        {
            Assert.That(factory.Names, Does.Contain(ExamplePluginFolder.SamplerName).And.Contain(SamplerNames.Heun).And.Contain(SamplerNames.Ddim));
            Assert.That(sampler, Is.InstanceOf<SigmaSamplerBase>(), "the plugin's sampler derives from the host's public σ-space base");
            Assert.That(sampler.Order, Is.EqualTo(2));
            Assert.That(context, Is.Not.SameAs(AssemblyLoadContext.Default), "the plugin lives in a load context of its own");
            Assert.That(context!.Assemblies.Select(a => a.GetName().Name), Does.Not.Contain("Diffusion.Sdk"), "and binds to the host's SDK");
        });
    }

    [Test]
    public void TheHostWithoutThePluginFolderDoesNotHaveIt() =>
        Assert.That(TestHost.Factory.Names, Does.Not.Contain(ExamplePluginFolder.SamplerName), "plugins load only from folders the host names, never from its own");

    [Test]
    public void AnotherPluginRegisteringTheSameNameIsAnErrorNamingBoth()
    {
        var folder = PluginCompiler.NewFolder();
        try
        {
            PluginCompiler.Compile(folder, "Vendor.Impostor", PluginDiscoveryTests.PluginSource.Replace("NAME", ExamplePluginFolder.SamplerName).Replace("ThirdParty", "Impostor"));
            using var provider = ExamplePluginFolder.Load(b => b.AddPluginsFrom(folder));
            var error = Assert.Throws<DiffusionException>(() => provider.GetRequiredService<ISamplerFactory>())!;
            Assert.That(error.Message, Does.Contain($"'{ExamplePluginFolder.SamplerName}'").And.Contain("Dpmpp2sAncestralSampler.dll").And.Contain("Vendor.Impostor.dll"));
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { /* a loaded plugin may still be mapped */ } catch (UnauthorizedAccessException) { }
        }
    }

    [Test]
    public void EachIntervalButTheLastIsEvaluatedTwiceAtTheGeometricMidpointOfSigmaAndSigmaDown()
    {
        var sampler = (SigmaSamplerBase)ExamplePluginFolder.Factory.Create(ExamplePluginFolder.SamplerName);
        sampler.SetTimesteps(4);
        var s = sampler.IntervalSigmas;
        Assert.That(sampler.Timesteps, Has.Count.EqualTo(7));
        Assert.That(sampler.Sigmas, Has.Count.EqualTo(8));
        for (var i = 0; i < 3; i++)
        {
            // σ_down = √(σ_{i+1}² − σ_up²) = σ_{i+1}²/σ_i exactly; the float32 σ_down of the reference's formula cancels,
            // so the midpoint is compared at 0.05 %.
            var down = s[i + 1] * s[i + 1] / s[i];
            Assert.That(sampler.Sigmas[2 * i], Is.EqualTo(s[i]), $"interval {i}: first evaluation at σ_i");
            Assert.That(sampler.Sigmas[2 * i + 1], Is.EqualTo(Math.Sqrt(s[i] * down)).Within(0.05).Percent, $"interval {i}: second at √(σ_i·σ_down)");
        }
        Assert.That(sampler.Sigmas[6], Is.EqualTo(s[3]), "the last interval, to σ = 0, is one evaluation");
    }

    [Test]
    public void OnGaussianDataItReproducesMeanAndSpreadBetterThanEulerAncestralAtTheSameEvaluations()
    {
        // 2S ancestral at 50 steps costs 99 evaluations; Euler ancestral gets 100 steps.
        var data = new GaussianData(0.5, 0.2);
        var (mean, std) = ClosedFormSampling.Moments(ClosedFormSampling.Sample(ExamplePluginFolder.Factory.Create(ExamplePluginFolder.SamplerName), 50, data, 20_000, seed: 3).Samples);
        var (eMean, eStd) = ClosedFormSampling.Moments(ClosedFormSampling.Sample(TestHost.Factory.Create(SamplerNames.EulerAncestral), 100, data, 20_000, seed: 3).Samples);
        TestContext.Out.WriteLine($"dpmpp-2s-ancestral 50 steps: mean {mean:F4}, std {std:F4}; euler-ancestral 100 steps: mean {eMean:F4}, std {eStd:F4}");
        Assert.Multiple(() =>
        {
            Assert.That(mean, Is.EqualTo(data.Mean).Within(4 * data.Std / Math.Sqrt(20_000)), "mean");
            Assert.That(Math.Abs(std / data.Std - 1), Is.LessThan(Math.Abs(eStd / data.Std - 1)), "spread closer to the data's than Euler ancestral's at equal cost");
        });
    }
}
