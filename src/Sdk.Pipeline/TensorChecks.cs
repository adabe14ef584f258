using Diffusion.Sdk.Abstractions;
using System.Numerics.Tensors;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Pipeline;

/// <summary>Cheap whole-tensor checks and statistics for the sampling loop.</summary>
internal static class TensorChecks
{
    /// <summary>
    /// The largest magnitude a sample or model output may reach. Beyond it the run has diverged: the square of a
    /// value (statistics, guidance rescale, thresholding quantiles) would overflow float, and sums over a batch
    /// overflow long before. Real samples stay within a few hundred (σ_max of the usual schedules is below 200).
    /// </summary>
    public const float MaxMagnitude = 1e18f;

    /// <summary>
    /// The index of the first NaN, infinity or value beyond ±<see cref="MaxMagnitude"/>, or −1. One SIMD pass
    /// (the largest magnitude, NaN when any element is NaN) decides whether to look at all.
    /// </summary>
    public static int FirstOutOfRange(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty) return -1;
        var largest = TensorPrimitives.MaxMagnitude(x);
        if (largest is >= -MaxMagnitude and <= MaxMagnitude) return -1; // false for NaN
        for (var i = 0; i < x.Length; i++)
            if (!(Math.Abs(x[i]) <= MaxMagnitude)) return i;
        return -1;
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
