using System.Numerics.Tensors;

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

    public static TensorStatistics Statistics(ReadOnlySpan<float> x)
    {
        var mean = TensorPrimitives.Sum(x) / x.Length;
        var meanSquare = TensorPrimitives.SumOfSquares(x) / x.Length;
        var variance = Math.Max(meanSquare - mean * mean, 0);
        return new TensorStatistics(TensorPrimitives.Min(x), TensorPrimitives.Max(x), mean, MathF.Sqrt(variance));
    }
}
