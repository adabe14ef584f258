using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
namespace Diffusion.Sdk.Tests.Support;

/// <summary>Element-wise comparison |actual − expected| ≤ abs + rel·|expected|, with a message naming the worst element.</summary>
public static class Tolerance
{
    /// <summary>Asserts that two tensors agree within the tolerance.</summary>
    public static void AssertClose(ReadOnlySpan<float> actual, IReadOnlyList<double> expected, string what, double abs = 1e-4, double rel = 1e-4)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Count), $"{what}: length");
        var worst = -1;
        var worstExcess = 0.0;
        for (var i = 0; i < actual.Length; i++)
        {
            var allowed = abs + rel * Math.Abs(expected[i]);
            var error = Math.Abs(actual[i] - expected[i]);
            if (!(error <= allowed) && (worst < 0 || error - allowed > worstExcess))
            {
                worst = i;
                worstExcess = double.IsNaN(error) ? double.PositiveInfinity : error - allowed;
            }
        }
        if (worst >= 0)
            Assert.Fail($"{what}: element {worst} is {actual[worst]:R}, expected {expected[worst]:R} (tolerance {abs:g2} + {rel:g2}·|expected|).");
    }
}
