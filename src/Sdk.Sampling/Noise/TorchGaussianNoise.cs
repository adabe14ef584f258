using Diffusion.Sdk.Abstractions;
using System;
using System.Runtime.CompilerServices;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// Standard-normal noise that reproduces PyTorch's CPU
/// <c>torch.randn(n, generator=torch.Generator().manual_seed(seed))</c> in float32 bit for bit,
/// including the state carried between successive calls on the same generator.
/// </summary>
/// <remarks>
/// <para>
/// What is reproduced (ATen, CPU generator, the AVX2 kernel that x86-64 machines with AVX2 run):
/// </para>
/// <list type="bullet">
/// <item><description>
/// The engine is the 32-bit Mersenne Twister MT19937 (<c>ATen/core/MT19937RNGEngine.h</c>), seeded with the
/// reference <c>init_genrand</c> recurrence from the low 32 bits of the 64-bit seed.
/// </description></item>
/// <item><description>
/// Tensors of 16 or more elements go through <c>normal_fill</c> (<c>ATen/native/cpu/DistributionTemplates.h</c> /
/// <c>DistributionKernels.cpp</c>): the whole buffer is first filled with float uniforms
/// <c>(next_u32 &amp; 0xFFFFFF) * 2^-24</c>, then converted in place in blocks of 16 by Box–Muller over the pairs
/// (j, j+8). When the length is not a multiple of 16, the last 16 positions are refilled with 16 fresh uniforms
/// and converted once more, overwriting the tail of the previous block.
/// </description></item>
/// <item><description>
/// The 16-blocks use the Cephes-derived float polynomials of <c>avx_mathfun.h</c> (<c>log256_ps</c>,
/// <c>sincos256_ps</c>, Giovanni Garberoglio's AVX port of Julien Pommier's <c>sse_mathfun.h</c>), with the
/// multiply-adds that GCC contracts into FMA when building that kernel with <c>-mfma</c>. The exact set of
/// fused operations was determined by testing every fused/unfused variant against recorded torch output.
/// </description></item>
/// <item><description>
/// Tensors of fewer than 16 elements use <c>at::normal_distribution&lt;double&gt;</c>: a double Box–Muller from
/// two 53-bit uniforms, whose second value (the sine) is cached in the generator and returned by the next draw
/// of this path, in this call or a later one. The 16-block path neither uses nor clears that cache.
/// </description></item>
/// </list>
/// <para>
/// The 16-block path is plain IEEE single-precision arithmetic with explicit fused multiply-adds where the reference
/// fuses, so its output is identical on every machine, with or without AVX2. It runs on <c>Vector512</c> or
/// <c>Vector256</c> registers where the machine has them (the twister's state regeneration and tempering too), one
/// lane at a time otherwise; all paths give the same bits (<see cref="CephesBoxMuller"/>, <see cref="MersenneTwister"/>). The path for
/// fewer than 16 elements calls the platform's double <see cref="Math.Log(double)"/>, <see cref="Math.Sin"/> and
/// <see cref="Math.Cos"/>, as torch calls libm; a last-bit double difference between C runtimes could change a
/// float result only when the value lies within one double ulp of a float rounding boundary.
/// </para>
/// <para>Instances are not thread-safe.</para>
/// </remarks>
public sealed class TorchGaussianNoise : INoiseSource
{
    // torch switches from the double, element-by-element path to normal_fill at this many elements.
    private const int BlockSize = CephesBoxMuller.BlockSize;

    // Values drawn and converted together: a multiple of the block size, small enough to stay in the L1 cache.
    private const int ChunkSize = 256 * BlockSize;

    private readonly MersenneTwister _engine;

    // CPUGeneratorImpl::next_double_normal_sample_: the sine half of the last double Box–Muller pair, not yet used.
    private double _cachedNormal;
    private bool _hasCachedNormal;

    /// <summary>Creates a generator in the state of <c>torch.Generator().manual_seed(seed)</c> on the CPU.</summary>
    /// <param name="seed">
    /// The seed. Like torch's CPU generator (<c>mt19937(uint64_t seed)</c> → <c>init_with_uint32</c>), only the low
    /// 32 bits seed the engine, so seeds that differ only above bit 31 give the same noise.
    /// </param>
    public TorchGaussianNoise(ulong seed)
    {
        _engine = new MersenneTwister(seed);
    }

    /// <summary>
    /// Fills <paramref name="destination"/> exactly as one <c>torch.randn(destination.Length)</c> call on this
    /// generator would, and advances the generator as that call does. Allocates nothing.
    /// </summary>
    /// <param name="destination">The span to fill; any length, including 0 (which draws nothing).</param>
    public void NextGaussian(Span<float> destination)
    {
        if (destination.Length < BlockSize)
        {
            FillSmall(destination);
        }
        else
        {
            FillBlocks(destination);
        }
    }

    /// <summary>torch's normal_fill: all uniforms first, then in-place 16-wide Box–Muller blocks, then the tail redo.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void FillBlocks(Span<float> data)
    {
        int n = data.Length;
        int whole = n - (n % BlockSize);

        // torch draws every uniform first, then converts the blocks; a block's values depend only on its own uniforms,
        // so drawing and converting a chunk at a time gives the same numbers while the chunk is still in the L1 cache.
        for (int start = 0; start < whole; start += ChunkSize)
        {
            Span<float> chunk = data[start..Math.Min(start + ChunkSize, whole)];
            _engine.FillFloatUniforms(chunk);
            CephesBoxMuller.TransformBlocks(chunk);
        }

        // The uniforms after the last whole block are drawn too (and then overwritten by the tail below).
        _engine.FillFloatUniforms(data[whole..]);

        if (whole != n)
        {
            // The incomplete final block is not computed from leftover uniforms: torch draws 16 new uniforms into
            // the last 16 positions (overlapping the previous block's outputs) and converts them as one more block.
            Span<float> tail = data[(n - BlockSize)..];
            _engine.FillFloatUniforms(tail);
            CephesBoxMuller.TransformBlocks(tail);
        }
    }

    /// <summary>The shortest draw <see cref="NextChunk"/> serves (shorter ones take torch's element-by-element path).</summary>
    internal const int MinChunkedLength = BlockSize;

    // NextChunk's values: one chunk, plus room for the uniforms after the last whole block and the tail block. One per
    // thread, shared by the generators drawing on it: a user's loop makes a generator per run, and a fresh 16 KB buffer
    // each time costs page faults until the collector reuses memory; a piece is used before the next one is drawn.
    [ThreadStatic]
    private static float[]? t_chunk;

    /// <summary>
    /// The values at <paramref name="start"/>… of one <see cref="NextGaussian"/> call of <paramref name="total"/> values
    /// (at least <see cref="MinChunkedLength"/>), a cache-sized piece at a time, so that a caller can use each piece
    /// while it is still in the L1 cache instead of writing the whole tensor and reading it back. Call it with
    /// start = 0, then each time at the end of the piece it returned, until <paramref name="total"/>: the pieces,
    /// in order, are exactly the values of that one call, and the generator ends in the same state. The span is the
    /// calling thread's chunk memory, valid until the next chunked draw on this thread (of any generator).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal ReadOnlySpan<float> NextChunk(int total, int start)
    {
        if (total < MinChunkedLength || (uint)start >= (uint)total)
            throw new ArgumentOutOfRangeException(nameof(start), start, $"A chunked draw of {total} values needs at least {MinChunkedLength} and a start inside it.");
        var chunk = t_chunk ??= new float[ChunkSize + BlockSize];
        int whole = total - (total % BlockSize);
        if (start + ChunkSize < whole)
        {
            Span<float> piece = chunk.AsSpan(0, ChunkSize);
            _engine.FillFloatUniforms(piece);
            CephesBoxMuller.TransformBlocks(piece);
            return piece;
        }

        // The last piece holds at least one whole block (the one before it ended before the last whole block), so
        // the tail block below falls inside it, as FillBlocks's does inside the whole tensor.
        Span<float> last = chunk.AsSpan(0, total - start);
        Span<float> blocks = last[..(whole - start)];
        _engine.FillFloatUniforms(blocks);
        CephesBoxMuller.TransformBlocks(blocks);
        _engine.FillFloatUniforms(last[(whole - start)..]);
        if (whole != total)
        {
            Span<float> tail = last[^BlockSize..];
            _engine.FillFloatUniforms(tail);
            CephesBoxMuller.TransformBlocks(tail);
        }
        return last;
    }

    /// <summary>
    /// The path for fewer than 16 elements: each element is one <c>at::normal_distribution&lt;double&gt;</c> draw
    /// (mean 0, std 1) narrowed to float.
    /// </summary>
    private void FillSmall(Span<float> data)
    {
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (float)NextDoubleNormal();
        }
    }

    /// <summary>
    /// One draw of <c>at::normal_distribution&lt;double&gt;</c>: the cached sine half if there is one; otherwise a
    /// fresh Box–Muller pair from two 53-bit uniforms u1, u2, r = sqrt(−2 ln(1 − u2)), θ = 2π·u1, returning r·cos θ
    /// and caching r·sin θ.
    /// </summary>
    private double NextDoubleNormal()
    {
        double normal;
        if (_hasCachedNormal)
        {
            normal = _cachedNormal;
            _hasCachedNormal = false;
        }
        else
        {
            double u1 = NextDoubleUniform();
            double u2 = NextDoubleUniform();
            double r = Math.Sqrt(-2.0 * Math.Log(1.0 - u2));
            double theta = 2.0 * Math.PI * u1;
            _cachedNormal = r * Math.Sin(theta);
            _hasCachedNormal = true;
            normal = r * Math.Cos(theta);
        }

        // transformation::normal: normal * std + mean in double (only changes a -0 into +0 here).
        return (normal * 1.0) + 0.0;
    }

    /// <summary>
    /// uniform_real_distribution&lt;double&gt;(0, 1): the low 53 bits of random64(), times 2^-53, where random64()
    /// is two 32-bit outputs, the first one high.
    /// </summary>
    private double NextDoubleUniform()
    {
        ulong hi = _engine.NextUInt32();
        ulong lo = _engine.NextUInt32();
        ulong bits = ((hi << 32) | lo) & ((1UL << 53) - 1);
        return bits * (1.0 / (1UL << 53));
    }
}
