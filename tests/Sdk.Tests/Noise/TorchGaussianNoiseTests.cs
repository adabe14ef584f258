using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using NUnit.Framework;

namespace Diffusion.Sdk.Tests.Noise;

/// <summary>
/// Checks <see cref="TorchGaussianNoise"/> bit for bit against <c>randn.json</c>: for each case,
/// <c>torch.randn(shape, generator=torch.Generator().manual_seed(seed))</c> on the CPU in float32 (<c>first</c>)
/// and a second call on the same generator (<c>second</c>).
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
[Category("Bitwise")]
public sealed class TorchGaussianNoiseTests
{
    /// <summary>Environment variable naming a folder whose <c>randn.json</c> is checked as well.</summary>
    public const string ReferenceDirVariable = "DIFFUSION_REFERENCE_DIR";

    private const string FileName = "randn.json";

    /// <summary>One recorded case: the seed, the tensor shape, and the two successive draws.</summary>
    public sealed record RandnCase(ulong Seed, int[] Shape, float[] First, float[] Second);

    /// <summary>The cases of the bundled file, then those of <c>$DIFFUSION_REFERENCE_DIR/randn.json</c> if set.</summary>
    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (TestCaseData data in Load(TestData.Path("reference", FileName), prefix: string.Empty))
        {
            yield return data;
        }

        string? dir = Environment.GetEnvironmentVariable(ReferenceDirVariable);
        if (!string.IsNullOrEmpty(dir))
        {
            string path = Path.Combine(dir, FileName);
            if (File.Exists(path))
            {
                foreach (TestCaseData data in Load(path, prefix: "env:"))
                {
                    yield return data;
                }
            }
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void MatchesTorchBitForBit(RandnCase c)
    {
        int count = c.Shape.Aggregate(1, (a, b) => checked(a * b));
        Assert.That(c.First, Has.Length.EqualTo(count), "first: file length does not match the shape");
        Assert.That(c.Second, Has.Length.EqualTo(count), "second: file length does not match the shape");

        var noise = new TorchGaussianNoise(c.Seed);
        float[] first = new float[count];
        float[] second = new float[count];
        noise.NextGaussian(first);
        noise.NextGaussian(second);

        Assert.Multiple(() =>
        {
            AssertBitsEqual(c.First, first, "first");
            AssertBitsEqual(c.Second, second, "second");
        });
    }

    /// <summary>When the variable is set, its folder must hold the file, otherwise its cases would silently vanish.</summary>
    [Test]
    public void ReferenceDirFromEnvironmentHoldsRandnJson()
    {
        string? dir = Environment.GetEnvironmentVariable(ReferenceDirVariable);
        if (string.IsNullOrEmpty(dir))
        {
            Assert.Ignore($"{ReferenceDirVariable} is not set.");
        }

        Assert.That(File.Exists(Path.Combine(dir!, FileName)), Is.True, $"{FileName} not found in {ReferenceDirVariable}={dir}");
    }

    /// <summary>torch.randn(0) draws nothing, so the generator is unchanged.</summary>
    [Test]
    public void EmptyDestinationDoesNotAdvanceTheGenerator()
    {
        var a = new TorchGaussianNoise(42);
        var b = new TorchGaussianNoise(42);
        a.NextGaussian(Span<float>.Empty);

        float[] x = new float[37];
        float[] y = new float[37];
        a.NextGaussian(x);
        b.NextGaussian(y);
        AssertBitsEqual(y, x, "after an empty draw");
    }

    private static IEnumerable<TestCaseData> Load(string path, string prefix)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
        foreach (JsonElement e in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var c = new RandnCase(
                e.GetProperty("seed").GetUInt64(),
                e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt32()).ToArray(),
                ReadFloats(e.GetProperty("first")),
                ReadFloats(e.GetProperty("second")));
            string name = $"{prefix}randn seed={c.Seed} shape={string.Join("x", c.Shape)}";
            yield return new TestCaseData(c).SetName(name);
        }
    }

    // The file has 9 significant digits, which identify a float32 exactly; GetSingle parses straight to the
    // nearest float (going through double first could round twice).
    private static float[] ReadFloats(JsonElement array) =>
        array.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    private static void AssertBitsEqual(float[] expected, float[] actual, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), $"{what}: length");
        int mismatches = 0;
        long maxUlp = 0;
        var report = new StringBuilder();
        for (int i = 0; i < expected.Length; i++)
        {
            int e = BitConverter.SingleToInt32Bits(expected[i]);
            int a = BitConverter.SingleToInt32Bits(actual[i]);
            if (e == a)
            {
                continue;
            }

            long ulp = Math.Abs(OrderedBits(e) - OrderedBits(a));
            maxUlp = Math.Max(maxUlp, ulp);
            if (mismatches++ < 5)
            {
                report.Append($"\n  [{i}] expected {expected[i]:R} (0x{e:X8}), got {actual[i]:R} (0x{a:X8}), {ulp} ulp");
            }
        }

        Assert.That(mismatches, Is.Zero, $"{what}: {mismatches} of {expected.Length} values differ (max {maxUlp} ulp):{report}");
    }

    // Maps float bits to integers that are consecutive for adjacent floats, across zero too.
    private static long OrderedBits(int bits) => bits >= 0 ? bits : (long)int.MinValue - bits;
}
