using Diffusion.Sdk.Fuzz;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>
/// Every input the fuzzers keep (tests/Fuzz/corpus/&lt;target&gt;: the seeds, and what AFL++ found interesting) is
/// replayed through its parser: each is read or refused with a typed error, never another exception. A finding the
/// fuzzer reports is copied into the corpus with its fix, so this suite keeps it fixed.
/// </summary>
[TestFixture]
public sealed class FuzzCorpusTests
{
    private static string Corpus => Path.Combine(TestData.Root, "..", "fuzz-corpus");

    public static IEnumerable<TestCaseData> Inputs()
    {
        foreach (var target in FuzzTargets.All.Keys)
        {
            var folder = Path.Combine(Corpus, target);
            if (!Directory.Exists(folder)) continue;
            foreach (var file in Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal))
                yield return new TestCaseData(target, file).SetName($"Fuzz corpus {target}/{Path.GetFileName(file)}");
        }
    }

    [Test]
    public void EveryTargetHasACorpus()
    {
        foreach (var target in FuzzTargets.All.Keys)
            Assert.That(Directory.Exists(Path.Combine(Corpus, target)) && Directory.EnumerateFiles(Path.Combine(Corpus, target)).Any(), Is.True, target);
    }

    [TestCaseSource(nameof(Inputs))]
    public void IsReadOrRefusedWithATypedError(string target, string file)
    {
        try
        {
            FuzzTargets.All[target](File.ReadAllBytes(file));
        }
        catch (Exception e) when (FuzzTargets.IsTypedRefusal(e))
        {
            // A refusal the contract allows.
        }
    }
}
