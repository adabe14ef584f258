using Diffusion.Configuration;
using Diffusion.Scheduling;
using Diffusion.Tests.Conformance;
using Diffusion.Tests.Support;
using Diffusion.Wrappers;

namespace Diffusion.Tests.Wrappers;

/// <summary>
/// The Karras wrapper around a sampler configured without Karras spacing must choose the same timesteps and sigmas
/// as the reference does with <c>use_karras_sigmas</c> on: every reference file that uses it is a case.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class KarrasWrapperReferenceTests
{
    public static IEnumerable<TestCaseData> KarrasFiles() =>
        Directory.EnumerateFiles(TestData.Path("reference", "schedulers"), "*.json").Order(StringComparer.Ordinal)
            .Where(f => System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(f))!["config"]!["use_karras_sigmas"]?.GetValue<bool>() == true)
            .Select(f => new TestCaseData(f).SetName($"Karras wrapper matches {Path.GetFileName(f)}"));

    [Test]
    public void ThereAreReferenceFilesWithKarrasSigmas() => Assert.That(KarrasFiles().Count(), Is.GreaterThanOrEqualTo(2));

    [TestCaseSource(nameof(KarrasFiles))]
    public void TimestepsAndSigmasMatchTheReference(string path)
    {
        var reference = ReferenceTrajectory.Load(path);
        var name = ReferenceConformanceTests.SamplerByReferenceName[reference.Scheduler];
        if (!TestHost.Factory.Names.Contains(name)) Assert.Ignore($"The '{name}' sampler is not built yet.");
        var config = SchedulerConfigJson.Parse(reference.ConfigJson);
        config.UseKarrasSigmas = false;
        var wrapped = new KarrasSigmasWrapper(TestHost.Factory.Create(name, config));
        wrapped.SetTimesteps(reference.NumInferenceSteps);
        Tolerance.AssertClose(wrapped.Timesteps.Select(t => (float)t).ToArray(), reference.Timesteps, "timesteps", abs: 1e-4, rel: 1e-6);
        Tolerance.AssertClose(((ISigmaScheduler)SchedulerDecorator.Unwrap(wrapped)).Sigmas.Select(s => (float)s).ToArray(), reference.Sigmas!, "sigmas");
    }
}
