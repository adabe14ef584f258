using System.Runtime.Intrinsics;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Determinism;

/// <summary>
/// CI's reruns of the <see cref="Categories.Arithmetic"/> category only check other vector widths if .NET honours the
/// switch each rerun sets. .NET 10 ignores <c>DOTNET_EnableAVX512F</c> (its AVX-512 switch is
/// <c>DOTNET_EnableAVX512</c>); CI once set the ignored name, and its "256-bit" rerun quietly ran at 512 bits. So each
/// CI run states the lanes it expects in <c>DIFFUSION_EXPECT_VECTOR_LANES</c>, and this test fails when the process
/// runs at another width.
/// </summary>
[TestFixture]
[Category(Categories.Arithmetic)]
public sealed class VectorWidthSwitchTests
{
    /// <summary>The environment variable naming the float lanes a run expects: 16, 8 or 4.</summary>
    public const string ExpectedLanesVariable = "DIFFUSION_EXPECT_VECTOR_LANES";

    [Test]
    public void TheProcessRunsAtTheWidthItsRunExpects()
    {
        var expected = Environment.GetEnvironmentVariable(ExpectedLanesVariable);
        if (string.IsNullOrEmpty(expected))
            Assert.Ignore($"{ExpectedLanesVariable} is not set: this run states no vector width to check (CI sets it for each run).");
        Assert.That(int.TryParse(expected, out var lanes) && lanes is 4 or 8 or 16, Is.True, $"{ExpectedLanesVariable} must be 4, 8 or 16; got '{expected}'.");

        var actual = Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : 4;
        Assert.Multiple(() =>
        {
            Assert.That(actual, Is.EqualTo(lanes), "The widest accelerated vector .NET reports: a switch in this run's environment did not take effect.");
            Assert.That(ElementWise.Width, Is.EqualTo(lanes), "ElementWise's lanes (its dispatch follows Vector512/Vector256.IsHardwareAccelerated).");
        });
    }
}
