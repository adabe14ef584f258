using System.Runtime.Loader;
using Diffusion.Configuration;
using Diffusion.Plugins;
using Diffusion.Scheduling;
using Diffusion.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Diffusion.Tests.Plugins;

/// <summary>The example plugin (examples/HeunSampler) as a host gets it: its build output folder, loaded at run time.</summary>
internal static class HeunPluginFolder
{
    /// <summary>The copy of examples/HeunSampler/bin/&lt;Configuration&gt;/net10.0/ the test build makes.</summary>
    public static string Path { get; } = System.IO.Path.Combine(AppContext.BaseDirectory, "plugins", "heun");

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

/// <summary>The conformance kit, run against <c>heun</c> exactly as a plugin author runs it: the sampler comes from the plugin folder.</summary>
public sealed class HeunConformance : SamplerConformanceTests
{
    protected override IScheduler CreateSampler(SchedulerConfig config) => HeunPluginFolder.Factory.Create("heun", config);

    protected override SamplerKind Kind => SamplerKind.Deterministic;

    // Stricter than the kit's first-order defaults, as a second-order method should be: measured 0.27 / 0.061 /
    // 0.0092 at 10 / 20 / 50 steps, observed order 2.13 and 2.07.
    protected override double MinimumConvergenceOrder => 1.5;

    protected override double ConvergedError => 1e-2;
}

[TestFixture]
public sealed class HeunPluginTests
{
    private static readonly GaussianData Data = new(0.5, 0.2);

    [Test]
    public void ThePluginFolderHoldsThePluginAndNotTheSdk()
    {
        var files = Directory.GetFiles(HeunPluginFolder.Path).Select(Path.GetFileName).ToArray();
        Assert.That(files, Does.Contain("HeunSampler.dll"));
        Assert.That(files, Has.None.StartsWith("Diffusion."), "the host supplies the SDK; a copy next to the plugin would shadow nothing and only mislead");

        using var provider = HeunPluginFolder.Load(b => { });
        var report = provider.GetRequiredService<PluginLoadReport>();
        Assert.Multiple(() =>
        {
            Assert.That(report.Loaded.Select(Path.GetFileName), Is.EqualTo(new[] { "HeunSampler.dll" }));
            Assert.That(report.Failures, Is.Empty);
        });
    }

    [Test]
    public void HeunLoadsThroughDiNextToTheBuiltInSamplersInItsOwnLoadContext()
    {
        using var provider = HeunPluginFolder.Load(TestHost.AddBuiltInSamplers);
        var factory = provider.GetRequiredService<ISamplerFactory>();
        var heun = factory.Create("heun");
        var context = AssemblyLoadContext.GetLoadContext(heun.GetType().Assembly);
        Assert.Multiple(() =>
        {
            Assert.That(factory.Names, Does.Contain("heun").And.Contain(SamplerNames.Euler).And.Contain(SamplerNames.Ddim));
            Assert.That(heun, Is.InstanceOf<ISigmaScheduler>(), "the plugin's types implement the host's interfaces");
            Assert.That(heun.Order, Is.EqualTo(2));
            Assert.That(context, Is.Not.SameAs(AssemblyLoadContext.Default), "the plugin lives in a load context of its own");
            Assert.That(context!.Assemblies.Select(a => a.GetName().Name), Does.Not.Contain("Diffusion.Sdk"), "and binds to the host's SDK");
            Assert.That(factory.Create(new SchedulerConfig { ClassName = "HeunDiscreteScheduler" }).Name, Is.EqualTo("heun"), "a reference config selects it by class name");
        });
    }

    [Test]
    public void TheHostWithoutThePluginFolderHasNoHeun() =>
        Assert.That(TestHost.Factory.Names, Does.Not.Contain("heun"), "plugins load only from folders the host names, never from its own");

    [Test]
    public void AnotherPluginRegisteringHeunIsAnErrorNamingBoth()
    {
        var folder = PluginCompiler.NewFolder();
        try
        {
            PluginCompiler.Compile(folder, "Vendor.Impostor", PluginDiscoveryTests.PluginSource.Replace("NAME", "heun").Replace("ThirdParty", "Impostor"));
            using var provider = HeunPluginFolder.Load(b => b.AddPluginsFrom(folder));
            var error = Assert.Throws<DiffusionException>(() => provider.GetRequiredService<ISamplerFactory>())!;
            Assert.That(error.Message, Does.Contain("'heun'").And.Contain("HeunSampler.dll").And.Contain("Vendor.Impostor.dll"));
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { /* a loaded plugin may still be mapped */ } catch (UnauthorizedAccessException) { }
        }
    }

    [Test]
    public void EachLaterTimestepIsListedTwiceWithItsSigma()
    {
        var heun = (ISigmaScheduler)HeunPluginFolder.Factory.Create("heun");
        heun.SetTimesteps(4);
        var euler = (ISigmaScheduler)TestHost.Factory.Create(SamplerNames.Euler);
        euler.SetTimesteps(4);
        var (t, s) = (euler.Timesteps, euler.Sigmas);
        Assert.Multiple(() =>
        {
            Assert.That(heun.Timesteps, Is.EqualTo(new[] { t[0], t[1], t[1], t[2], t[2], t[3], t[3] }).Within(1e-3));
            Assert.That(heun.Sigmas, Is.EqualTo(new[] { s[0], s[1], s[1], s[2], s[2], s[3], s[3], 0 }).Within(0.1).Percent, "Euler's σ table is float32, as the reference's");
            Assert.That(heun.InitNoiseSigma, Is.EqualTo(euler.InitNoiseSigma).Within(0.1).Percent);
        });
    }

    [Test]
    public void HeunsErrorFallsFasterThanEulers()
    {
        int[] steps = [10, 20, 50];
        double[] Errors(Func<IScheduler> create) => steps.Select(n =>
            ClosedFormSampling.EndpointError(ClosedFormSampling.Sample(create(), n, Data, 2_000, seed: 7), Data)).ToArray();
        static double Order(double[] e, int[] n, int i) => Math.Log(e[i - 1] / e[i]) / Math.Log((double)n[i] / n[i - 1]);

        var heun = Errors(() => HeunPluginFolder.Factory.Create("heun"));
        var euler = Errors(() => TestHost.Factory.Create(SamplerNames.Euler));
        // Equal network evaluations: n Heun steps cost 2n − 1, so Euler gets 2n steps.
        var eulerSameCost = steps.Select(n => ClosedFormSampling.EndpointError(ClosedFormSampling.Sample(TestHost.Factory.Create(SamplerNames.Euler), 2 * n, Data, 2_000, seed: 7), Data)).ToArray();
        TestContext.Out.WriteLine($"max endpoint error at 10/20/50 steps: Heun {Format(heun)} (order {Order(heun, steps, 1):F2}, {Order(heun, steps, 2):F2}); " +
            $"Euler {Format(euler)} (order {Order(euler, steps, 1):F2}, {Order(euler, steps, 2):F2}); Euler at 20/40/100 steps (the same evaluations) {Format(eulerSameCost)}");
        Assert.Multiple(() =>
        {
            for (var i = 0; i < steps.Length; i++)
                Assert.That(heun[i], Is.LessThan(euler[i]), $"Heun beats Euler at {steps[i]} steps");
            for (var i = 1; i < steps.Length; i++)
                Assert.That(Order(heun, steps, i), Is.GreaterThan(Order(euler, steps, i) + 0.75), $"Heun's error falls faster than Euler's, {steps[i - 1]} → {steps[i]} steps");
            // Per network evaluation the second order pays off once steps are fine enough: at 10 steps (19 evaluations)
            // Heun's 0.27 is still above Euler's 0.22 at 20; from 20 steps on it is below.
            for (var i = 1; i < steps.Length; i++)
                Assert.That(heun[i], Is.LessThan(eulerSameCost[i]), $"Heun at {steps[i]} steps ({2 * steps[i] - 1} evaluations) beats Euler at {2 * steps[i]} steps");
        });
    }

    private static string Format(double[] errors) => string.Join(" / ", errors.Select(e => e.ToString("E2", System.Globalization.CultureInfo.InvariantCulture)));
}
