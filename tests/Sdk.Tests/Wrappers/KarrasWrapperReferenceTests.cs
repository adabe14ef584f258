using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Tests.Conformance;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Wrappers;

/// <summary>
/// Karras spacing against the reference, every reference file that uses it being a case: asked for as a request
/// option on a configuration without it, the factory's one path (the sampler's own Karras option, or the wrapper
/// where it has none) must choose the reference's timesteps and sigmas; and the wrapper alone, around a sampler
/// configured without Karras, must match the reference for the kinds whose reference takes σ_min and σ_max from
/// the spaced timesteps (the Euler-type samplers), which is the range the wrapper uses.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class KarrasWrapperReferenceTests
{
    // Kinds whose reference takes the Karras range from the sigmas at the spaced timesteps (the reference README);
    // DPM-Solver, UniPC and DEIS take the whole training table instead, and their own Karras option does so.
    private static readonly HashSet<string> SpacedRangeKinds = ["euler", "lms", "heun", "kdpm2", "kdpm2_ancestral"];

    public static IEnumerable<TestCaseData> KarrasFiles() =>
        Directory.EnumerateFiles(TestData.Path("reference", "schedulers"), "*.json").Order(StringComparer.Ordinal)
            .Where(f => System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(f))!["config"]!["use_karras_sigmas"]?.GetValue<bool>() == true)
            .Select(f => new TestCaseData(f).SetName($"Karras option matches {Path.GetFileName(f)}"));

    public static IEnumerable<TestCaseData> SpacedRangeFiles() =>
        KarrasFiles().Select(c => (string)c.Arguments[0]!)
            .Where(f =>
            {
                var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(f))!;
                return SpacedRangeKinds.Contains(root["scheduler"]!.GetValue<string>()) && root["config"]!["interpolation_type"]?.GetValue<string>() is null or "linear";
            })
            .Select(f => new TestCaseData(f).SetName($"Karras wrapper matches {Path.GetFileName(f)}"));

    [Test]
    public void ThereAreReferenceFilesWithKarrasSigmas()
    {
        Assert.That(KarrasFiles().Count(), Is.GreaterThanOrEqualTo(2));
        Assert.That(SpacedRangeFiles().Count(), Is.GreaterThanOrEqualTo(2));
    }

    [TestCaseSource(nameof(KarrasFiles))]
    public void TheRequestOptionGivesTheReferenceSchedule(string path)
    {
        var (reference, name, config) = Load(path);
        var sampler = TestHost.Factory.Create(new SamplingOptions { Sampler = name, UseKarrasSigmas = true }, config);
        sampler.SetTimesteps(reference.NumInferenceSteps);
        AssertSchedule(sampler, reference);
    }

    [TestCaseSource(nameof(SpacedRangeFiles))]
    public void TimestepsAndSigmasMatchTheReference(string path)
    {
        var (reference, name, config) = Load(path);
        var wrapped = new KarrasSigmasWrapper(TestHost.Factory.Create(name, config));
        wrapped.SetTimesteps(reference.NumInferenceSteps);
        AssertSchedule(wrapped, reference);
    }

    private static (ReferenceTrajectory Reference, string Name, SchedulerConfig Config) Load(string path)
    {
        var reference = ReferenceTrajectory.Load(path);
        var name = ReferenceConformanceTests.SamplerByReferenceName[reference.Scheduler];
        if (!TestHost.Factory.Names.Contains(name)) Assert.Ignore($"The '{name}' sampler is not built yet.");
        var config = SchedulerConfigJson.Parse(reference.ConfigJson);
        config.UseKarrasSigmas = false;
        return (reference, name, config);
    }

    private static void AssertSchedule(ISampler sampler, ReferenceTrajectory reference)
    {
        Tolerance.AssertClose(sampler.Timesteps.Select(t => (float)t).ToArray(), reference.Timesteps, "timesteps", abs: 1e-4, rel: 1e-6);
        if (SamplerDecorator.Unwrap(sampler) is IFlowMatchingSampler flow)
            Tolerance.AssertClose(flow.Sigmas.Select(s => (float)s).ToArray(), reference.Sigmas!, "sigmas");
        else
            Tolerance.AssertClose(ReferenceConformanceTests.ReferenceSigmaTable(reference.Scheduler, (ISigmaSampler)SamplerDecorator.Unwrap(sampler)), reference.Sigmas!, "sigmas");
    }
}
