using Diffusion.Sdk.Abstractions;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// torch's <c>normal_fill_16_AVX2</c> (<c>ATen/native/cpu/DistributionKernels.cpp</c>): Box–Muller on blocks of 16
/// float uniforms, in place, over the pairs (j, j+8): u1 = 1 − data[j], u2 = data[j + 8];
/// data[j] = sqrt(−2 ln u1)·cos(2π u2), data[j + 8] = sqrt(−2 ln u1)·sin(2π u2), with the Cephes-derived float
/// polynomials of <c>avx_mathfun.h</c> (<c>log256_ps</c>, <c>sincos256_ps</c>, Giovanni Garberoglio's AVX port of
/// Julien Pommier's <c>sse_mathfun.h</c>) and the multiply-adds that GCC contracts into FMA when building that kernel
/// with <c>-mfma</c> (found by testing every fused/unfused variant against recorded torch output).
/// </summary>
/// <remarks>
/// Three paths give the same bits: one lane at a time, one block per <see cref="Vector256{T}"/> pair, and two blocks
/// per <see cref="Vector512{T}"/> pair (software-pipelined). Every operation is an IEEE single-precision operation with one rounding
/// (add, multiply, square root, exact integer conversions, bit masks), and the multiply-adds the reference fuses are
/// explicit fused multiply-adds in each path, so the vector width cannot change a result. The loops are compiled
/// fully optimized on first use (<see cref="MethodImplOptions.AggressiveOptimization"/>), so the first draws of a
/// process do not run as unoptimized tier-0 code.
/// </remarks>
internal static class CephesBoxMuller
{
    /// <summary>Values per block.</summary>
    public const int BlockSize = 16;
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

    private const uint ExponentBits = 0x7F800000u;
    private const uint HalfExponent = 0x3F000000u;

    /// <summary>Transforms every whole block of 16 in <paramref name="data"/> (a multiple of 16 long), with the widest accelerated vectors.</summary>
    public static void TransformBlocks(Span<float> data)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            TransformVector512(data);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            TransformVector256(data);
        }
        else
        {
            TransformScalar(data);
        }
    }

    /// <summary>The blocks one lane at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TransformScalar(Span<float> data)
    {
        CheckBlocks(data);
        for (int i = 0; i < data.Length; i += BlockSize)
        {
            Span<float> block = data.Slice(i, BlockSize);
            for (int j = 0; j < HalfBlock; j++)
            {
                // 1 - u maps [0, 1) onto (0, 1], so the logarithm's argument is in [2^-24, 1] and never zero.
                float radius = MathF.Sqrt(-2f * Log(1f - block[j]));
                SinCos(TwoPi * block[j + HalfBlock], out float sin, out float cos);

                // torch stores _mm256_fmadd_ps(n, std, mean) with std = 1 and mean = 0: fma(n, 1, 0) is n + 0, which
                // only turns a -0 into +0. Kept so that zero signs match too.
                block[j] = (radius * cos) + 0f;
                block[j + HalfBlock] = (radius * sin) + 0f;
            }
        }
    }

    /// <summary>The blocks one at a time: the eight u1 in one vector, the eight u2 in another.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TransformVector256(Span<float> data)
    {
        CheckBlocks(data);
        ref float d = ref MemoryMarshal.GetReference(data);
        for (int i = 0; i < data.Length; i += BlockSize)
        {
            var u1 = Vector256<float>.One - Vector256.LoadUnsafe(ref d, (nuint)i);
            var u2 = Vector256.LoadUnsafe(ref d, (nuint)(i + HalfBlock));
            var radius = Vector256.Sqrt(Vector256.Create(-2f) * Log(u1));
            var (sin, cos) = SinCos(Vector256.Create(TwoPi) * u2);
            ((radius * cos) + Vector256<float>.Zero).StoreUnsafe(ref d, (nuint)i);
            ((radius * sin) + Vector256<float>.Zero).StoreUnsafe(ref d, (nuint)(i + HalfBlock));
        }
    }

    /// <summary>
    /// Two blocks at a time: the u1 of both in one vector, their u2 in another; a lone last block goes through
    /// <see cref="TransformVector256"/>.
    /// </summary>
    /// <remarks>
    /// The loop is software-pipelined over three pairs of blocks: each iteration finishes pair p − 2 (square root,
    /// products, stores), continues pair p − 1 (the rest of the logarithm) and starts pair p (loads, the logarithm's
    /// first steps, the sine and cosine). One pair's operations form a chain of about a hundred cycles, and with all
    /// of them issued together the processor's scheduler fills with operations that wait on the chain; split across
    /// iterations, most of an iteration's inputs are ready when it issues. Measured 6–9 % faster on a 4096-value
    /// chunk here (AMD Zen 5). The order of the operations on each value is unchanged, so are the bits.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TransformVector512(Span<float> data)
    {
        CheckBlocks(data);
        ref float d = ref MemoryMarshal.GetReference(data);
        int pairs = data.Length / PairSize;
        if (pairs == 1)
        {
            Finish(ref d, 0, Continue(Start(ref d, 0)));
        }
        else if (pairs > 1)
        {
            var continued = Continue(Start(ref d, 0));
            var started = Start(ref d, PairSize);
            for (int p = 2; p < pairs; p++)
            {
                Finish(ref d, (nuint)((p - 2) * PairSize), continued);
                continued = Continue(started);
                started = Start(ref d, (nuint)(p * PairSize));
            }

            Finish(ref d, (nuint)((pairs - 2) * PairSize), continued);
            Finish(ref d, (nuint)((pairs - 1) * PairSize), Continue(started));
        }

        if (pairs * PairSize < data.Length)
        {
            TransformVector256(data[(pairs * PairSize)..]);
        }
    }

    private const int PairSize = 2 * BlockSize;

    // A pair of blocks after Start: the logarithm of u1 through its fourth polynomial step, and the sine and cosine of 2π·u2.
    private readonly record struct Started(Vector512<float> Y, Vector512<float> X, Vector512<float> Z, Vector512<float> E, Vector512<float> Sin, Vector512<float> Cos);

    // A pair of blocks after Continue: −2·ln u1, and the sine and cosine.
    private readonly record struct Continued(Vector512<float> MinusTwoLog, Vector512<float> Sin, Vector512<float> Cos);

    // Two blocks [u1 of the first | its u2] and [u1 of the second | its u2]; one 128-bit-lane shuffle each gathers both
    // blocks' u1 and both blocks' u2 (and two more put the results back in block order, in Finish).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Started Start(ref float d, nuint i)
    {
        var first = Vector512.LoadUnsafe(ref d, i);
        var second = Vector512.LoadUnsafe(ref d, i + BlockSize);
        var u1 = Vector512<float>.One - LowerHalves(first, second);
        var u2 = UpperHalves(first, second);
        var (y, x, z, e) = LogStart(u1);
        var (sin, cos) = SinCos(Vector512.Create(TwoPi) * u2);
        return new Started(y, x, z, e, sin, cos);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Continued Continue(in Started s) =>
        new(Vector512.Create(-2f) * LogFinish(s.Y, s.X, s.Z, s.E), s.Sin, s.Cos);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(ref float d, nuint i, in Continued c)
    {
        var radius = Vector512.Sqrt(c.MinusTwoLog);
        var cosines = (radius * c.Cos) + Vector512<float>.Zero;
        var sines = (radius * c.Sin) + Vector512<float>.Zero;
        LowerHalves(cosines, sines).StoreUnsafe(ref d, i);
        UpperHalves(cosines, sines).StoreUnsafe(ref d, i + BlockSize);
    }

    // [a's lower 256 bits | b's lower 256 bits] and [a's upper | b's upper], one vshuff32x4 each where AVX-512 is there.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> LowerHalves(Vector512<float> a, Vector512<float> b) =>
        Avx512F.IsSupported ? Avx512F.Shuffle4x128(a, b, 0b01_00_01_00) : Vector512.Create(a.GetLower(), b.GetLower());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> UpperHalves(Vector512<float> a, Vector512<float> b) =>
        Avx512F.IsSupported ? Avx512F.Shuffle4x128(a, b, 0b11_10_11_10) : Vector512.Create(a.GetUpper(), b.GetUpper());

    // x·4/π truncated to an integer (_mm256_cvttps_epi32). x is in [0, 2π) here, so the plain truncating conversion
    // is exact; Vector512.ConvertToInt32 would add saturation fix-ups for out-of-range lanes that never occur.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Truncate(Vector512<float> x) =>
        Avx512F.IsSupported ? Avx512F.ConvertToVector512Int32WithTruncation(x) : Vector512.ConvertToInt32(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Truncate(Vector256<float> x) =>
        Avx.IsSupported ? Avx.ConvertToVector256Int32WithTruncation(x) : Vector256.ConvertToInt32(x);

    private static void CheckBlocks(Span<float> data)
    {
        if (data.Length % BlockSize != 0)
            throw new ArgumentException($"Box–Muller works on whole blocks of {BlockSize} values; got {data.Length}.", nameof(data));
    }

    /// <summary>
    /// log256_ps for one lane (the Cephes logf algorithm), for x in [2^-24, 1].
    /// </summary>
    /// <remarks>
    /// The denormal clamp and the NaN mask for x ≤ 0 are left out because Box–Muller never passes such inputs.
    /// Fusion matches the reference build: the polynomial's multiply-adds are fused, and the product y·z is fused
    /// with the addition of e·q1 (not the other way round). The final subtraction of z/2 and the addition of e·q2
    /// are written fused too, though both products are exact, so fusing them makes no difference. The reference's
    /// −z·½ is written z·(−½): the same product, sign of zero included, without a vector negation.
    /// </remarks>
    private static float Log(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);

        // Exponent and mantissa: x = m * 2^e with m in [0.5, 1). The reference's e = (k − 127) + 1, computed exactly in
        // one subtraction.
        float e = (int)(bits >> 23) - 0x7E;
        x = BitConverter.UInt32BitsToSingle((bits & ~ExponentBits) | HalfExponent);

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
        y = MathF.FusedMultiplyAdd(z, -0.5f, y);

        x += y;
        return MathF.FusedMultiplyAdd(e, LogQ2, x);
    }

    /// <summary>
    /// sincos256_ps for one lane (the Cephes sinf/cosf algorithm), for x in [+0, 2π) (not −0: the sign steps are left out).
    /// </summary>
    /// <remarks>
    /// Range reduction to octants by j = (trunc(x·4/π) + 1) &amp; ~1, the three-part Cody–Waite subtraction of
    /// j·π/4, then the cosine polynomial and the sine polynomial, each picked by bit 2 of j, with signs from bit 4.
    /// Fusion matches the reference build: every polynomial multiply-add is fused and the cosine's last y·z is fused
    /// into the subtraction of z/2. The Cody–Waite steps are written fused as the reference compiles them;
    /// DP1 and DP2 have short mantissas, so those products are exact either way.
    /// </remarks>
    private static void SinCos(float x, out float sin, out float cos)
    {
        // The reference takes the sine's sign from x and reduces |x|; x = 2π·u is +0 or positive here, so that sign is
        // always clear and |x| = x.
        int j = (int)(x * FourOverPi); // truncation, as _mm256_cvttps_epi32
        j = (j + 1) & ~1;
        float y = j;

        uint signSin = (uint)(j & 4) << 29;
        uint signCos = (uint)(~(j - 2) & 4) << 29;
        bool sinUsesSinePoly = (j & 2) == 0;

        x = MathF.FusedMultiplyAdd(y, MinusDP1, x);
        x = MathF.FusedMultiplyAdd(y, MinusDP2, x);
        x = MathF.FusedMultiplyAdd(y, MinusDP3, x);

        float z = x * x;

        // cos polynomial, for |x| <= π/4: 1 - z/2 + z²·(c2 + z·(c1 + z·c0)).
        float yc = MathF.FusedMultiplyAdd(CosP0, z, CosP1);
        yc = MathF.FusedMultiplyAdd(yc, z, CosP2);
        yc *= z;
        yc = MathF.FusedMultiplyAdd(yc, z, z * -0.5f);
        yc += 1f;

        // sin polynomial, for |x| <= π/4: x + x·z·(s2 + z·(s1 + z·s0)).
        float ys = MathF.FusedMultiplyAdd(SinP0, z, SinP1);
        ys = MathF.FusedMultiplyAdd(ys, z, SinP2);
        ys *= z;
        ys = MathF.FusedMultiplyAdd(ys, x, x);

        // The reference selects with masks and adds the unselected +0, turning a −0 into +0. That addition is left out:
        // a zero here can only give a zero product with the radius, which the caller's final "+ 0" makes +0 either way.
        float sinMagnitude = sinUsesSinePoly ? ys : yc;
        float cosMagnitude = sinUsesSinePoly ? yc : ys;
        sin = BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(sinMagnitude) ^ signSin);
        cos = BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(cosMagnitude) ^ signCos);
    }

    /// <summary><see cref="Log(float)"/>, operation for operation, on eight lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Log(Vector256<float> x)
    {
        var bits = x.AsUInt32();
        var e = Vector256.ConvertToSingle((bits >> 23).AsInt32() - Vector256.Create(0x7E));
        x = ((bits & Vector256.Create(~ExponentBits)) | Vector256.Create(HalfExponent)).AsSingle();

        var small = Vector256.LessThan(x, Vector256.Create(CephesSqrtHalf));
        var tmp = x & small;
        x -= Vector256<float>.One;
        e -= Vector256<float>.One & small;
        x += tmp;

        var z = x * x;

        var y = Vector256.FusedMultiplyAdd(Vector256.Create(LogP0), x, Vector256.Create(LogP1));
        y = Vector256.FusedMultiplyAdd(y, x, Vector256.Create(LogP2));
        y = Vector256.FusedMultiplyAdd(y, x, Vector256.Create(LogP3));
        y = Vector256.FusedMultiplyAdd(y, x, Vector256.Create(LogP4));
        y = Vector256.FusedMultiplyAdd(y, x, Vector256.Create(LogP5));
        y = Vector256.FusedMultiplyAdd(y, x, Vector256.Create(LogP6));
        y = Vector256.FusedMultiplyAdd(y, x, Vector256.Create(LogP7));
        y = Vector256.FusedMultiplyAdd(y, x, Vector256.Create(LogP8));
        y *= x;

        y = Vector256.FusedMultiplyAdd(y, z, e * Vector256.Create(LogQ1));
        y = Vector256.FusedMultiplyAdd(z, Vector256.Create(-0.5f), y);

        x += y;
        return Vector256.FusedMultiplyAdd(e, Vector256.Create(LogQ2), x);
    }

    /// <summary><see cref="SinCos(float, out float, out float)"/>, operation for operation, on eight lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> Sin, Vector256<float> Cos) SinCos(Vector256<float> x)
    {
        var j = Truncate(x * Vector256.Create(FourOverPi));
        j = (j + Vector256<int>.One) & Vector256.Create(~1);
        var y = Vector256.ConvertToSingle(j);

        var four = Vector256.Create(4);
        var signSin = ((j & four) << 29).AsUInt32();
        var signCos = ((~(j - Vector256.Create(2)) & four) << 29).AsUInt32();
        var sinUsesSinePoly = Vector256.Equals(j & Vector256.Create(2), Vector256<int>.Zero).AsSingle();

        x = Vector256.FusedMultiplyAdd(y, Vector256.Create(MinusDP1), x);
        x = Vector256.FusedMultiplyAdd(y, Vector256.Create(MinusDP2), x);
        x = Vector256.FusedMultiplyAdd(y, Vector256.Create(MinusDP3), x);

        var z = x * x;

        var yc = Vector256.FusedMultiplyAdd(Vector256.Create(CosP0), z, Vector256.Create(CosP1));
        yc = Vector256.FusedMultiplyAdd(yc, z, Vector256.Create(CosP2));
        yc *= z;
        yc = Vector256.FusedMultiplyAdd(yc, z, z * Vector256.Create(-0.5f));
        yc += Vector256<float>.One;

        var ys = Vector256.FusedMultiplyAdd(Vector256.Create(SinP0), z, Vector256.Create(SinP1));
        ys = Vector256.FusedMultiplyAdd(ys, z, Vector256.Create(SinP2));
        ys *= z;
        ys = Vector256.FusedMultiplyAdd(ys, x, x);

        var sinMagnitude = Vector256.ConditionalSelect(sinUsesSinePoly, ys, yc);
        var cosMagnitude = Vector256.ConditionalSelect(sinUsesSinePoly, yc, ys);
        return ((sinMagnitude.AsUInt32() ^ signSin).AsSingle(), (cosMagnitude.AsUInt32() ^ signCos).AsSingle());
    }

    /// <summary>
    /// <see cref="Log(float)"/>, operation for operation, on sixteen lanes, in two parts for the pipelined loop: this
    /// one through the polynomial's fourth step, <see cref="LogFinish"/> from its fifth.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float> Y, Vector512<float> X, Vector512<float> Z, Vector512<float> E) LogStart(Vector512<float> x)
    {
        var bits = x.AsUInt32();
        var e = Vector512.ConvertToSingle((bits >> 23).AsInt32() - Vector512.Create(0x7E));
        x = ((bits & Vector512.Create(~ExponentBits)) | Vector512.Create(HalfExponent)).AsSingle();

        var small = Vector512.LessThan(x, Vector512.Create(CephesSqrtHalf));
        var tmp = Select(small, x, Vector512<float>.Zero);
        x -= Vector512<float>.One;
        e -= Select(small, Vector512<float>.One, Vector512<float>.Zero);
        x += tmp;

        var z = x * x;

        var y = Vector512.FusedMultiplyAdd(Vector512.Create(LogP0), x, Vector512.Create(LogP1));
        y = Vector512.FusedMultiplyAdd(y, x, Vector512.Create(LogP2));
        y = Vector512.FusedMultiplyAdd(y, x, Vector512.Create(LogP3));
        y = Vector512.FusedMultiplyAdd(y, x, Vector512.Create(LogP4));
        return (y, x, z, e);
    }

    /// <summary>The rest of <see cref="LogStart"/>'s logarithm.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> LogFinish(Vector512<float> y, Vector512<float> x, Vector512<float> z, Vector512<float> e)
    {
        y = Vector512.FusedMultiplyAdd(y, x, Vector512.Create(LogP5));
        y = Vector512.FusedMultiplyAdd(y, x, Vector512.Create(LogP6));
        y = Vector512.FusedMultiplyAdd(y, x, Vector512.Create(LogP7));
        y = Vector512.FusedMultiplyAdd(y, x, Vector512.Create(LogP8));
        y *= x;

        y = Vector512.FusedMultiplyAdd(y, z, e * Vector512.Create(LogQ1));
        y = Vector512.FusedMultiplyAdd(z, Vector512.Create(-0.5f), y);

        x += y;
        return Vector512.FusedMultiplyAdd(e, Vector512.Create(LogQ2), x);
    }

    /// <summary><see cref="SinCos(float, out float, out float)"/>, operation for operation, on sixteen lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float> Sin, Vector512<float> Cos) SinCos(Vector512<float> x)
    {
        var j = Truncate(x * Vector512.Create(FourOverPi));
        j = (j + Vector512<int>.One) & Vector512.Create(~1);
        var y = Vector512.ConvertToSingle(j);

        var four = Vector512.Create(4);
        var signSin = ((j & four) << 29).AsUInt32();
        var signCos = ((~(j - Vector512.Create(2)) & four) << 29).AsUInt32();
        var sinUsesSinePoly = Vector512.Equals(j & Vector512.Create(2), Vector512<int>.Zero);

        x = Vector512.FusedMultiplyAdd(y, Vector512.Create(MinusDP1), x);
        x = Vector512.FusedMultiplyAdd(y, Vector512.Create(MinusDP2), x);
        x = Vector512.FusedMultiplyAdd(y, Vector512.Create(MinusDP3), x);

        var z = x * x;

        var yc = Vector512.FusedMultiplyAdd(Vector512.Create(CosP0), z, Vector512.Create(CosP1));
        yc = Vector512.FusedMultiplyAdd(yc, z, Vector512.Create(CosP2));
        yc *= z;
        yc = Vector512.FusedMultiplyAdd(yc, z, z * Vector512.Create(-0.5f));
        yc += Vector512<float>.One;

        var ys = Vector512.FusedMultiplyAdd(Vector512.Create(SinP0), z, Vector512.Create(SinP1));
        ys = Vector512.FusedMultiplyAdd(ys, z, Vector512.Create(SinP2));
        ys *= z;
        ys = Vector512.FusedMultiplyAdd(ys, x, x);

        var sinMagnitude = Select(sinUsesSinePoly, ys.AsInt32(), yc.AsInt32());
        var cosMagnitude = Select(sinUsesSinePoly, yc.AsInt32(), ys.AsInt32());
        return ((sinMagnitude.AsUInt32() ^ signSin).AsSingle(), (cosMagnitude.AsUInt32() ^ signCos).AsSingle());
    }

    // mask ? a : b per lane, for a comparison's all-ones-or-zeros mask; the same bits as a bitwise select. Where AVX-512F
    // is there, BlendVariable lets the JIT keep the comparison in a mask register and blend with it (vblendmps), where
    // ConditionalSelect first expands the mask into a vector (vpmovm2d) for a bitwise select. The integer overload keeps
    // the sine/cosine mask in the integer domain its comparison is in: a float-typed view of it made the JIT expand it
    // and then compress it again. About 4 % off a draw.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Select(Vector512<float> mask, Vector512<float> a, Vector512<float> b) =>
        Avx512F.IsSupported ? Avx512F.BlendVariable(b, a, mask) : Vector512.ConditionalSelect(mask, a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Select(Vector512<int> mask, Vector512<int> a, Vector512<int> b) =>
        Avx512F.IsSupported ? Avx512F.BlendVariable(b, a, mask) : Vector512.ConditionalSelect(mask, a, b);
}
