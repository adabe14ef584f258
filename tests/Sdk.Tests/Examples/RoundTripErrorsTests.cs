using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using ScheduleExplorer;

namespace Diffusion.Sdk.Tests.Examples;

/// <summary>The numbers behind docs/numerics.md: the closed form keeps ε → v → ε at float32 rounding for every t.</summary>
[TestFixture]
public sealed class RoundTripErrorsTests
{
    [Test]
    public void ClosedFormStaysAtRoundingWhileDivisionLosesDigitsAtLowNoise()
    {
        var rows = RoundTripErrors.Table(ScheduleCatalog.Create("linear", 1000));
        TestContext.Out.Write(RoundTripErrors.ToMarkdown(rows));
        Assert.That(rows.Select(r => (r.First, r.Last)), Is.EqualTo(RoundTripErrors.DefaultRanges));
        Assert.Multiple(() =>
        {
            foreach (var row in rows)
            {
                // A few float32 ulps of a unit-scale value (ulp(1) ≈ 1.2e-7).
                Assert.That(row.ClosedForm, Is.LessThan(1e-6), $"closed form, t {row.First}–{row.Last}");
                Assert.That(row.Division, Is.GreaterThanOrEqualTo(row.ClosedForm), $"division, t {row.First}–{row.Last}");
            }
            // Dividing by √(1−ᾱ) ≈ 0.01 near t = 0 amplifies the rounding of x_t − √ᾱ·x₀ about a hundredfold.
            Assert.That(rows[0].Division, Is.GreaterThan(20 * rows[0].ClosedForm), "t 0–20");
            Assert.That(rows[0].DivisionWorstTimestep, Is.LessThan(5));
        });
    }
}
