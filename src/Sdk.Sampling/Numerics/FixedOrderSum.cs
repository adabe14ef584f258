using Diffusion.Sdk.Abstractions;
namespace Diffusion.Sdk.Sampling;

/// <summary>
/// Sums whose additions happen in one fixed order on every machine. A SIMD reduction such as
/// <c>TensorPrimitives.Sum</c> adds in an order set by the vector width the process runs with (128, 256 or 512 bits,
/// which <c>DOTNET_EnableAVX2=0</c> or <c>DOTNET_EnableAVX512=0</c> change), so its float result differs in the last
/// bits between machines; these do not. They accumulate in double, in four interleaved partial sums (element i goes to
/// sum i mod 4) combined as (s₀ + s₁) + (s₂ + s₃): scalar code, which the JIT never reorders or vectorises.
/// </summary>
public static class FixedOrderSum
{
    /// <summary>Σ xᵢ.</summary>
    public static double Sum(ReadOnlySpan<float> x)
    {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        var i = 0;
        for (; i <= x.Length - 4; i += 4)
        {
            s0 += x[i];
            s1 += x[i + 1];
            s2 += x[i + 2];
            s3 += x[i + 3];
        }
        if (i < x.Length) s0 += x[i++];
        if (i < x.Length) s1 += x[i++];
        if (i < x.Length) s2 += x[i];
        return (s0 + s1) + (s2 + s3);
    }

    /// <summary>Σ (xᵢ − <paramref name="center"/>)².</summary>
    public static double SumOfSquaredDeviations(ReadOnlySpan<float> x, double center)
    {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        var i = 0;
        for (; i <= x.Length - 4; i += 4)
        {
            double d0 = x[i] - center, d1 = x[i + 1] - center, d2 = x[i + 2] - center, d3 = x[i + 3] - center;
            s0 += d0 * d0;
            s1 += d1 * d1;
            s2 += d2 * d2;
            s3 += d3 * d3;
        }
        for (var k = 0; i < x.Length; i++, k++)
        {
            var d = x[i] - center;
            switch (k)
            {
                case 0: s0 += d * d; break;
                case 1: s1 += d * d; break;
                default: s2 += d * d; break;
            }
        }
        return (s0 + s1) + (s2 + s3);
    }
}
