using System;

namespace Diffusion.Noise;

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
/// The 16-block path is plain IEEE single-precision arithmetic with explicit <see cref="MathF.FusedMultiplyAdd"/>
/// where the reference fuses, so its output is identical on every machine, with or without AVX2. The path for
/// fewer than 16 elements calls the platform's double <see cref="Math.Log(double)"/>, <see cref="Math.Sin"/> and
/// <see cref="Math.Cos"/>, as torch calls libm; a last-bit double difference between C runtimes could change a
/// float result only when the value lies within one double ulp of a float rounding boundary.
/// </para>
/// <para>Instances are not thread-safe.</para>
/// </remarks>
public sealed class TorchGaussianNoise : INoiseSource
{
    // MT19937 parameters (Matsumoto & Nishimura 1998).
    private const int StateSize = 624;
    private const int ShiftSize = 397;
    private const uint MatrixA = 0x9908B0DFu;
    private const uint UpperMask = 0x80000000u;
    private const uint LowerMask = 0x7FFFFFFFu;

    // torch switches from the double, element-by-element path to normal_fill at this many elements.
    private const int BlockSize = 16;
    private const int HalfBlock = BlockSize / 2;

    // normal_fill_AVX2 builds its constant as _mm256_set1_ps(2.0f * c10::pi<double>): a double product narrowed to float.
    private const float TwoPi = (float)(2.0 * Math.PI);

    // Cephes constants as written in avx_mathfun.h. There they are double literals converted to float, so they
    // are written here as double literals cast to float, the same conversion (not a direct float literal parse).
    private const float CephesSqrtHalf = (float)0.707106781186547524;
    private const float LogP0 = (float)7.0376836292E-2;
    private const float LogP1 = (float)-1.1514610310E-1;
    private const float LogP2 = (float)1.1676998740E-1;
    private const float LogP3 = (float)-1.2420140846E-1;
    private const float LogP4 = (float)1.4249322787E-1;
    private const float LogP5 = (float)-1.6668057665E-1;
    private const float LogP6 = (float)2.0000714765E-1;
    private const float LogP7 = (float)-2.4999993993E-1;
    private const float LogP8 = (float)3.3333331174E-1;
    private const float LogQ1 = (float)-2.12194440e-4;
    private const float LogQ2 = (float)0.693359375;

    private const float FourOverPi = (float)1.27323954473516;
    private const float MinusDP1 = (float)-0.78515625;
    private const float MinusDP2 = (float)-2.4187564849853515625e-4;
    private const float MinusDP3 = (float)-3.77489497744594108e-8;
    private const float SinP0 = (float)-1.9515295891E-4;
    private const float SinP1 = (float)8.3321608736E-3;
    private const float SinP2 = (float)-1.6666654611E-1;
    private const float CosP0 = (float)2.443315711809948E-005;
    private const float CosP1 = (float)-1.388731625493765E-003;
    private const float CosP2 = (float)4.166664568298827E-002;

    private readonly uint[] _state = new uint[StateSize];
    private int _next;

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
        // init_genrand: the standard MT19937 seeding recurrence.
        uint s = unchecked((uint)seed);
        _state[0] = s;
        for (int i = 1; i < StateSize; i++)
        {
            s = unchecked(1812433253u * (s ^ (s >> 30)) + (uint)i);
            _state[i] = s;
        }

        _next = StateSize; // twist before the first output
    }

    /// <summary>
    /// Fills <paramref name="destination"/> exactly as one <c>torch.randn(destination.Length)</c> call on this
    /// generator would, and advances the generator as that call does.
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
    private void FillBlocks(Span<float> data)
    {
        int n = data.Length;
        for (int i = 0; i < n; i++)
        {
            data[i] = NextFloatUniform();
        }

        for (int i = 0; i + BlockSize <= n; i += BlockSize)
        {
            BoxMuller16(data.Slice(i, BlockSize));
        }

        if (n % BlockSize != 0)
        {
            // The incomplete final block is not computed from leftover uniforms: torch draws 16 new uniforms into
            // the last 16 positions (overlapping the previous block's outputs) and converts them as one more block.
            Span<float> tail = data.Slice(n - BlockSize, BlockSize);
            for (int i = 0; i < BlockSize; i++)
            {
                tail[i] = NextFloatUniform();
            }

            BoxMuller16(tail);
        }
    }

    /// <summary>
    /// normal_fill_16_AVX2, lane by lane: u1 = 1 − data[j], u2 = data[j + 8];
    /// data[j] = sqrt(−2 ln u1)·cos(2π u2), data[j + 8] = sqrt(−2 ln u1)·sin(2π u2).
    /// </summary>
    private static void BoxMuller16(Span<float> block)
    {
        for (int j = 0; j < HalfBlock; j++)
        {
            // 1 - u maps [0, 1) onto (0, 1], so the logarithm's argument is in [2^-24, 1] and never zero.
            float u1 = 1f - block[j];
            float u2 = block[j + HalfBlock];
            float radius = MathF.Sqrt(-2f * CephesLog(u1));
            CephesSinCos(TwoPi * u2, out float sin, out float cos);

            // torch stores _mm256_fmadd_ps(n, std, mean) with std = 1 and mean = 0: fma(n, 1, 0) is n + 0, which only
            // turns a -0 into +0. Kept so that zero signs match too.
            block[j] = (radius * cos) + 0f;
            block[j + HalfBlock] = (radius * sin) + 0f;
        }
    }

    /// <summary>
    /// log256_ps from avx_mathfun.h for one lane (the Cephes logf algorithm), for x in [2^-24, 1].
    /// </summary>
    /// <remarks>
    /// The denormal clamp and the NaN mask for x ≤ 0 are left out because Box–Muller never passes such inputs.
    /// Fusion matches the reference build: the polynomial's multiply-adds are fused, and the product y·z is fused
    /// with the addition of e·q1 (not the other way round). The final subtraction of z/2 and the addition of e·q2
    /// are written fused too, though both products are exact, so fusing them makes no difference.
    /// </remarks>
    private static float CephesLog(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);

        // Exponent and mantissa: x = m * 2^e with m in [0.5, 1).
        float e = (int)(bits >> 23) - 0x7F;
        e += 1f;
        x = BitConverter.UInt32BitsToSingle((bits & ~0x7F800000u) | 0x3F000000u);

        // if (m < sqrt(1/2)) { e -= 1; x = m + m - 1; } else { x = m - 1; }, in the reference's branch-free order.
        bool small = x < CephesSqrtHalf;
        float tmp = small ? x : 0f;
        x -= 1f;
        e -= small ? 1f : 0f;
        x += tmp;

        float z = x * x;

        float y = MathF.FusedMultiplyAdd(LogP0, x, LogP1);
        y = MathF.FusedMultiplyAdd(y, x, LogP2);
        y = MathF.FusedMultiplyAdd(y, x, LogP3);
        y = MathF.FusedMultiplyAdd(y, x, LogP4);
        y = MathF.FusedMultiplyAdd(y, x, LogP5);
        y = MathF.FusedMultiplyAdd(y, x, LogP6);
        y = MathF.FusedMultiplyAdd(y, x, LogP7);
        y = MathF.FusedMultiplyAdd(y, x, LogP8);
        y *= x;

        y = MathF.FusedMultiplyAdd(y, z, e * LogQ1);
        y = MathF.FusedMultiplyAdd(-z, 0.5f, y);

        x += y;
        return MathF.FusedMultiplyAdd(e, LogQ2, x);
    }

    /// <summary>
    /// sincos256_ps from avx_mathfun.h for one lane (the Cephes sinf/cosf algorithm), for x in [0, 2π).
    /// </summary>
    /// <remarks>
    /// Range reduction to octants by j = (trunc(x·4/π) + 1) &amp; ~1, the three-part Cody–Waite subtraction of
    /// j·π/4, then the cosine polynomial and the sine polynomial, each picked by bit 2 of j, with signs from bit 4.
    /// Fusion matches the reference build: every polynomial multiply-add is fused and the cosine's last y·z is fused
    /// into the subtraction of z/2. The Cody–Waite steps are written fused as the reference compiles them;
    /// DP1 and DP2 have short mantissas, so those products are exact either way.
    /// </remarks>
    private static void CephesSinCos(float x, out float sin, out float cos)
    {
        uint signSin = BitConverter.SingleToUInt32Bits(x) & 0x80000000u;
        x = MathF.Abs(x);

        int j = (int)(x * FourOverPi); // truncation, as _mm256_cvttps_epi32
        j = (j + 1) & ~1;
        float y = j;

        uint swapSignSin = (uint)(j & 4) << 29;
        uint signCos = (uint)(~(j - 2) & 4) << 29;
        bool sinUsesSinePoly = (j & 2) == 0;
        signSin ^= swapSignSin;

        x = MathF.FusedMultiplyAdd(y, MinusDP1, x);
        x = MathF.FusedMultiplyAdd(y, MinusDP2, x);
        x = MathF.FusedMultiplyAdd(y, MinusDP3, x);

        float z = x * x;

        // cos polynomial, for |x| <= π/4: 1 - z/2 + z²·(c2 + z·(c1 + z·c0)).
        float yc = MathF.FusedMultiplyAdd(CosP0, z, CosP1);
        yc = MathF.FusedMultiplyAdd(yc, z, CosP2);
        yc *= z;
        yc = MathF.FusedMultiplyAdd(yc, z, -(z * 0.5f));
        yc += 1f;

        // sin polynomial, for |x| <= π/4: x + x·z·(s2 + z·(s1 + z·s0)).
        float ys = MathF.FusedMultiplyAdd(SinP0, z, SinP1);
        ys = MathF.FusedMultiplyAdd(ys, z, SinP2);
        ys *= z;
        ys = MathF.FusedMultiplyAdd(ys, x, x);

        // The reference selects with masks and adds the unselected +0 (turning a -0 into +0); "+ 0f" keeps that.
        float sinMagnitude = (sinUsesSinePoly ? ys : yc) + 0f;
        float cosMagnitude = (sinUsesSinePoly ? yc : ys) + 0f;
        sin = BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(sinMagnitude) ^ signSin);
        cos = BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(cosMagnitude) ^ signCos);
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

    /// <summary>uniform_real_distribution&lt;float&gt;(0, 1): the low 24 bits of one 32-bit output, times 2^-24.</summary>
    private float NextFloatUniform() => (NextUInt32() & 0xFFFFFFu) * (1.0f / (1 << 24));

    /// <summary>
    /// uniform_real_distribution&lt;double&gt;(0, 1): the low 53 bits of random64(), times 2^-53, where random64()
    /// is two 32-bit outputs, the first one high.
    /// </summary>
    private double NextDoubleUniform()
    {
        ulong hi = NextUInt32();
        ulong lo = NextUInt32();
        ulong bits = ((hi << 32) | lo) & ((1UL << 53) - 1);
        return bits * (1.0 / (1UL << 53));
    }

    /// <summary>One tempered MT19937 output.</summary>
    private uint NextUInt32()
    {
        if (_next >= StateSize)
        {
            Twist();
        }

        uint y = _state[_next++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9D2C5680u;
        y ^= (y << 15) & 0xEFC60000u;
        y ^= y >> 18;
        return y;
    }

    /// <summary>Regenerates all 624 state words (the MT19937 "next_state" step).</summary>
    private void Twist()
    {
        uint[] mt = _state;
        int k = 0;
        for (; k < StateSize - ShiftSize; k++)
        {
            uint y = (mt[k] & UpperMask) | (mt[k + 1] & LowerMask);
            mt[k] = mt[k + ShiftSize] ^ (y >> 1) ^ ((y & 1u) * MatrixA);
        }

        for (; k < StateSize - 1; k++)
        {
            uint y = (mt[k] & UpperMask) | (mt[k + 1] & LowerMask);
            mt[k] = mt[k + ShiftSize - StateSize] ^ (y >> 1) ^ ((y & 1u) * MatrixA);
        }

        uint last = (mt[StateSize - 1] & UpperMask) | (mt[0] & LowerMask);
        mt[StateSize - 1] = mt[ShiftSize - 1] ^ (last >> 1) ^ ((last & 1u) * MatrixA);
        _next = 0;
    }
}
