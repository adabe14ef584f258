namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The float32 sum that PyTorch's CPU kernels compute for a contiguous float32 tensor (<c>x.sum()</c>, and
/// <c>x.mean()</c> = that sum / n), reproduced bit for bit: where the reference takes a float32 mean and a result is
/// sensitive to its last bits (e.g. a ratio of means near zero), a more accurate sum would not match it.
/// </summary>
/// <remarks>
/// <para>PyTorch's <c>cascade_sum</c> (ATen's <c>SumKernel.cpp</c>, the same in 1.13 and 2.x), as dispatched on an AVX2
/// build: the data is read as vectors of 8 lanes; four vectors at a time go to four accumulators, which are summed
/// in a cascade of four levels (blocks of 2^max(4, ⌈log₂ m⌉ / 4) additions per level, m the number of four-vector
/// groups); the leftover vectors join accumulator 0, the four accumulators are added in order, then the scalar tail
/// and finally the 8 lanes, left to right. Fewer than 8 values take the same cascade one value wide. Every addition is
/// float32. Checked against torch 1.13 on random data of 8 to 300,001 values and against every mean the
/// long-prompt reference recorded.</para>
/// <para>A build dispatched to AVX-512 reads 16 lanes and can differ in the last bits; the reference data here came
/// from an AVX2 dispatch (torch's default). Scalar code: the result has the same bits on every machine.</para>
/// </remarks>
public static class TorchFloat32Sum
{
    private const int Lanes = 8;       // Vectorized<float>::size() under AVX2
    private const int Accumulators = 4; // row_sum's ilp_factor
    private const int Levels = 4;       // multi_row_sum's num_levels

    /// <summary>torch's float32 <c>sum</c> of <paramref name="x"/>.</summary>
    public static float Sum(ReadOnlySpan<float> x)
    {
        if (x.Length < Lanes)
        {
            Span<float> one = stackalloc float[1];
            RowSum(x, 1, x.Length, one);
            return one[0];
        }
        var vectors = x.Length / Lanes;
        Span<float> lanes = stackalloc float[Lanes];
        RowSum(x, Lanes, vectors, lanes);
        var total = 0f;
        for (var i = vectors * Lanes; i < x.Length; i++) total += x[i];
        for (var l = 0; l < Lanes; l++) total += lanes[l];
        return total;
    }

    /// <summary>torch's float32 <c>mean</c> of <paramref name="x"/>: <see cref="Sum"/> / n, in float32.</summary>
    public static float Mean(ReadOnlySpan<float> x) => Sum(x) / x.Length;

    // row_sum: `count` elements of `width` floats; four accumulators over groups of four elements, the leftover
    // elements into accumulator 0, then accumulators 1-3 into accumulator 0.
    private static void RowSum(ReadOnlySpan<float> x, int width, int count, Span<float> result)
    {
        var groups = count / Accumulators;
        Span<float> partial = stackalloc float[Accumulators * width];
        MultiRowSum(x, width, groups, partial);
        var acc0 = partial[..width];
        for (var e = groups * Accumulators; e < count; e++) AddTo(acc0, x.Slice(e * width, width));
        for (var k = 1; k < Accumulators; k++) AddTo(acc0, partial.Slice(k * width, width));
        acc0.CopyTo(result);
    }

    // multi_row_sum: `groups` groups of four elements; each accumulator sums its element of every group through a
    // cascade of levels, so that only partial sums of similar size are added.
    private static void MultiRowSum(ReadOnlySpan<float> x, int width, int groups, Span<float> result)
    {
        var levelPower = Math.Max(4, CeilLog2(groups) / Levels);
        var levelStep = 1L << levelPower;
        var levelMask = levelStep - 1;
        var row = Accumulators * width;
        Span<float> acc = stackalloc float[Levels * row];
        acc.Clear();
        long i = 0;
        while (i + levelStep <= groups)
        {
            for (var j = 0; j < levelStep; j++, i++) AddTo(acc[..row], x.Slice((int)(i * row), row));
            for (var j = 1; j < Levels; j++)
            {
                AddTo(acc.Slice(j * row, row), acc.Slice((j - 1) * row, row));
                acc.Slice((j - 1) * row, row).Clear();
                if ((i & (levelMask << (j * levelPower))) != 0) break;
            }
        }
        for (; i < groups; i++) AddTo(acc[..row], x.Slice((int)(i * row), row));
        for (var j = 1; j < Levels; j++) AddTo(acc[..row], acc.Slice(j * row, row));
        acc[..row].CopyTo(result);
    }

    private static void AddTo(Span<float> target, ReadOnlySpan<float> values)
    {
        for (var k = 0; k < target.Length; k++) target[k] += values[k];
    }

    private static int CeilLog2(long x) => x <= 2 ? 1 : 64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)(x - 1));
}
