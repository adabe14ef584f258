namespace Diffusion.Sdk.Sampling;

/// <summary>
/// A float32 solve of a small square system A·x = b (n ≤ 3) with the roundings of <c>torch.linalg.solve</c> on the
/// reference's CPU: LU with partial pivoting by LAPACK's recursive <c>sgetrf2</c>, then <c>sgetrs</c>, each BLAS loop
/// as netlib's reference BLAS orders it (the pivot column scaled by the pivot's reciprocal, no fused multiply-adds).
/// UniPC's order conditions are solved this way; with nearly equal λ nodes the system is ill conditioned and a solve in
/// another order or precision moves its weights, and the step with them, past the reference vectors' tolerance.
/// </summary>
/// <remarks>
/// torch factors Aᵀ instead of A when A is contiguous in memory (it saves a copy) and then solves with the transposed
/// factors (<c>sgetrs</c> with <c>'T'</c>); the two orders round differently, so the caller says which one the reference
/// takes (the <c>transposed</c> argument of <see cref="Solve"/>). The same algorithm, written out in Python's float32
/// scalars, matched torch 1.13 with Debian's netlib LAPACK on 12,000 random systems of UniPC's form (2×2 and 3×3, both
/// orders) in every bit.
/// </remarks>
public static class SmallLinearSolve
{
    /// <summary>
    /// Solves A·x = b in place: <paramref name="a"/> is A row-major (n×n, overwritten by the factors), <paramref name="b"/>
    /// receives x. <paramref name="transposed"/>: the reference factored Aᵀ (A was a contiguous tensor).
    /// </summary>
    public static void Solve(Span<float> a, Span<float> b, bool transposed)
    {
        var n = b.Length;
        if (n is < 1 or > 3 || a.Length != n * n) throw new ArgumentException("Expected an n×n matrix, n from 1 to 3, and n right-hand values.", nameof(a));
        // m[i, j] of the matrix LAPACK factors: A, or Aᵀ.
        Span<float> m = stackalloc float[9];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++) m[i * 3 + j] = transposed ? a[j * n + i] : a[i * n + j];
        Span<int> pivots = stackalloc int[3];
        Factor(m, pivots, 0, n, n, n);

        if (!transposed)
        {
            // sgetrs 'N': row swaps, L·y = b (unit lower), U·x = y (upper, divided by the diagonal).
            for (var i = 0; i < n; i++)
                if (pivots[i] != i) (b[i], b[pivots[i]]) = (b[pivots[i]], b[i]);
            for (var k = 0; k < n; k++)
                if (b[k] != 0)
                    for (var i = k + 1; i < n; i++) b[i] -= b[k] * m[i * 3 + k];
            for (var k = n - 1; k >= 0; k--)
            {
                if (b[k] == 0) continue;
                b[k] /= m[k * 3 + k];
                for (var i = 0; i < k; i++) b[i] -= b[k] * m[i * 3 + k];
            }
        }
        else
        {
            // sgetrs 'T' with the factors of Aᵀ = P·L·U: Uᵀ·y = b, Lᵀ·z = y, then the row swaps undone in reverse.
            for (var i = 0; i < n; i++)
            {
                var t = b[i];
                for (var k = 0; k < i; k++) t -= m[k * 3 + i] * b[k];
                b[i] = t / m[i * 3 + i];
            }
            for (var i = n - 1; i >= 0; i--)
            {
                var t = b[i];
                for (var k = i + 1; k < n; k++) t -= m[k * 3 + i] * b[k];
                b[i] = t;
            }
            for (var i = n - 1; i >= 0; i--)
                if (pivots[i] != i) (b[i], b[pivots[i]]) = (b[pivots[i]], b[i]);
        }
    }

    // sgetrf2 on the block of rows/columns from `first`, `rows` × `columns`, of a 3-column row-major matrix n wide:
    // one column is pivoted (the first largest magnitude) and scaled by the pivot's reciprocal; wider blocks split the
    // columns in two (n1 = min(rows, columns)/2), factor the left, update the right (unit-lower solve, then a product
    // subtracted) and factor what remains. Row swaps are applied to whole rows, which is what LAPACK's swaps of the
    // left and right parts add up to.
    private static void Factor(Span<float> m, Span<int> pivots, int first, int rows, int columns, int n)
    {
        if (rows == 1 || columns == 1)
        {
            pivots[first] = first;
            if (columns != 1 || rows == 1) return;
            var best = 0;
            for (var i = 1; i < rows; i++)
                if (Math.Abs(m[(first + i) * 3 + first]) > Math.Abs(m[(first + best) * 3 + first])) best = i;
            pivots[first] = first + best;
            if (m[(first + best) * 3 + first] == 0) return;
            if (best != 0)
                for (var c = 0; c < n; c++) (m[first * 3 + c], m[(first + best) * 3 + c]) = (m[(first + best) * 3 + c], m[first * 3 + c]);
            var reciprocal = 1f / m[first * 3 + first];
            for (var i = 1; i < rows; i++) m[(first + i) * 3 + first] *= reciprocal;
            return;
        }
        var n1 = Math.Min(rows, columns) / 2;
        var n2 = columns - n1;
        Factor(m, pivots, first, rows, n1, n);
        // A12 := L11⁻¹·A12 (unit lower, column by column).
        for (var j = 0; j < n2; j++)
            for (var k = 0; k < n1; k++)
            {
                var bk = m[(first + k) * 3 + first + n1 + j];
                if (bk == 0) continue;
                for (var i = k + 1; i < n1; i++) m[(first + i) * 3 + first + n1 + j] -= bk * m[(first + i) * 3 + first + k];
            }
        // A22 := A22 − A21·A12.
        for (var j = 0; j < n2; j++)
            for (var l = 0; l < n1; l++)
            {
                var temp = -m[(first + l) * 3 + first + n1 + j];
                for (var i = n1; i < rows; i++) m[(first + i) * 3 + first + n1 + j] += temp * m[(first + i) * 3 + first + l];
            }
        Factor(m, pivots, first + n1, rows - n1, n2, n);
    }
}
