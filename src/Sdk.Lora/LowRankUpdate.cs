using System.Numerics.Tensors;

namespace Diffusion.Sdk.Lora;

/// <summary>
/// The merge arithmetic, in float32: W[rows, cols] += c · (a[rows, rank] · b[rank, cols]). Each row's low-rank
/// product is summed over the rank in a fixed order with fused multiply-adds, then added to the row with one more,
/// so the result is the same bits at any SIMD width.
/// </summary>
internal static class LowRankUpdate
{
    public static void Add(Span<float> weight, int rows, int cols, ReadOnlySpan<float> a, ReadOnlySpan<float> b, int rank, float c)
    {
        if (weight.Length != (long)rows * cols || a.Length != (long)rows * rank || b.Length != (long)rank * cols)
            throw new ArgumentException($"Shapes do not agree: weight {weight.Length} for [{rows}, {cols}], a {a.Length} for [{rows}, {rank}], b {b.Length} for [{rank}, {cols}].");
        var delta = new float[cols];
        for (var row = 0; row < rows; row++)
        {
            TensorPrimitives.Multiply(b[..cols], a[row * rank], delta);
            for (var r = 1; r < rank; r++)
                TensorPrimitives.FusedMultiplyAdd(b.Slice(r * cols, cols), a[row * rank + r], delta, delta);
            var target = weight.Slice(row * cols, cols);
            TensorPrimitives.FusedMultiplyAdd(delta, c, target, target);
        }
    }

    /// <summary>The transpose of a row-major [rows, cols] matrix.</summary>
    public static float[] Transpose(ReadOnlySpan<float> matrix, int rows, int cols)
    {
        var result = new float[matrix.Length];
        for (var i = 0; i < rows; i++)
            for (var j = 0; j < cols; j++)
                result[j * rows + i] = matrix[i * cols + j];
        return result;
    }
}
