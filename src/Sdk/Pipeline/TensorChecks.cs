using System.Numerics.Tensors;
using Diffusion.Numerics;

namespace Diffusion.Pipeline;

/// <summary>Cheap whole-tensor checks and statistics for the sampling loop.</summary>
internal static class TensorChecks
{
    /// <summary>The index of the first NaN or infinity, or −1. A SIMD sum finds out whether to look at all.</summary>
    public static int FirstNonFinite(ReadOnlySpan<float> x)
    {
        if (float.IsFinite(TensorPrimitives.Sum(x))) return -1;
        for (var i = 0; i < x.Length; i++)
            if (!float.IsFinite(x[i])) return i;
        return -1; // finite values whose sum overflowed
    }

    /// <summary>
    /// Min, max, mean and population standard deviation. The sums are fixed-order (<see cref="FixedOrderSum"/>), so the
    /// statistics have the same bits whatever the machine's vector width; min and max do not depend on the order.
    /// </summary>
    public static TensorStatistics Statistics(ReadOnlySpan<float> x)
    {
        var mean = FixedOrderSum.Sum(x) / x.Length;
        var variance = FixedOrderSum.SumOfSquaredDeviations(x, mean) / x.Length;
        return new TensorStatistics(TensorPrimitives.Min(x), TensorPrimitives.Max(x), (float)mean, (float)Math.Sqrt(variance));
    }
}
