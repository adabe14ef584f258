using Diffusion.Sdk.Abstractions;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The 32-bit Mersenne Twister MT19937 (Matsumoto &amp; Nishimura 1998) as PyTorch's CPU generator runs it
/// (<c>ATen/core/MT19937RNGEngine.h</c>): seeded by the reference <c>init_genrand</c> recurrence, one tempered word
/// per output. Bulk output regenerates the 624-word state and tempers it with <see cref="Vector512"/> or
/// <see cref="Vector256"/> integer operations where the machine has them; integer arithmetic is exact, so every path
/// yields the same words (the tests compare them).
/// </summary>
/// <remarks>Not thread-safe. The bulk loops are compiled fully optimized on first use (<see cref="MethodImplOptions.AggressiveOptimization"/>).</remarks>
internal sealed class MersenneTwister
{
    /// <summary>Words of state (n).</summary>
    public const int StateSize = 624;

    // The recurrence's middle distance m and the twist matrix's last row a.
    private const int ShiftSize = 397;
    private const uint MatrixA = 0x9908B0DFu;
    private const uint UpperMask = 0x80000000u;
    private const uint LowerMask = 0x7FFFFFFFu;

    // Tempering masks.
    private const uint TemperB = 0x9D2C5680u;
    private const uint TemperC = 0xEFC60000u;

    // A float uniform in [0, 1) keeps the low 24 bits of a word: uniform_real_distribution<float>.
    private const uint FloatMantissa = 0xFFFFFFu;
    private const float FloatScale = 1.0f / (1 << 24);

    private readonly uint[] _state = new uint[StateSize];
    private int _next;

    /// <summary>The state of <c>mt19937(seed)</c>: only the low 32 bits of the seed are used, as torch's <c>init_with_uint32</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public MersenneTwister(ulong seed)
    {
        uint s = unchecked((uint)seed);
        _state[0] = s;
        for (int i = 1; i < StateSize; i++)
        {
            s = unchecked(1812433253u * (s ^ (s >> 30)) + (uint)i);
            _state[i] = s;
        }

        _next = StateSize; // twist before the first output
    }

    /// <summary>One tempered output.</summary>
    public uint NextUInt32()
    {
        if (_next >= StateSize)
        {
            Twist(_state);
            _next = 0;
        }

        return Temper(_state[_next++]);
    }

    /// <summary>
    /// Fills <paramref name="destination"/> with the next outputs as float uniforms, <c>(word &amp; 0xFFFFFF)·2^-24</c>,
    /// exactly as that many successive <see cref="NextUInt32"/> calls converted one by one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void FillFloatUniforms(Span<float> destination)
    {
        while (!destination.IsEmpty)
        {
            if (_next >= StateSize)
            {
                // Renewed, then tempered and converted below: two passes over the 2.5 KB state were measured as fast as
                // one that tempers each renewed vector while still in registers.
                Twist(_state);
                _next = 0;
            }

            int count = Math.Min(StateSize - _next, destination.Length);
            TemperToFloatUniforms(_state.AsSpan(_next, count), destination[..count]);
            _next += count;
            destination = destination[count..];
        }
    }

    /// <summary>Regenerates all 624 words ("next_state"), with the widest accelerated vectors.</summary>
    internal static void Twist(Span<uint> state)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            TwistVector512(state);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            TwistVector256(state);
        }
        else
        {
            TwistScalar(state, 0);
        }
    }

    /// <summary>Tempers <paramref name="words"/> into float uniforms, with the widest accelerated vectors.</summary>
    internal static void TemperToFloatUniforms(ReadOnlySpan<uint> words, Span<float> destination)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            TemperVector512(words, destination);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            TemperVector256(words, destination);
        }
        else
        {
            TemperScalar(words, destination, 0);
        }
    }

    /// <summary>
    /// The twist one word at a time from word <paramref name="from"/> on (0: the whole state). Word k depends on words
    /// k+1 and k+m (mod n) as they were before this twist for k &lt; n − m, and on word k+m−n, already renewed, after.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TwistScalar(Span<uint> state, int from)
    {
        for (int k = from; k < StateSize - ShiftSize; k++)
        {
            state[k] = state[k + ShiftSize] ^ Mix(state[k], state[k + 1]);
        }

        for (int k = Math.Max(from, StateSize - ShiftSize); k < StateSize - 1; k++)
        {
            state[k] = state[k + ShiftSize - StateSize] ^ Mix(state[k], state[k + 1]);
        }

        state[StateSize - 1] = state[ShiftSize - 1] ^ Mix(state[StateSize - 1], state[0]);
    }

    /// <summary>
    /// The twist eight words at a time. Within a vector no word reads another one of the same vector that this twist
    /// renews: the words k+1 it reads are renewed later, and the words k+m−n were renewed at least n − m − 8 positions
    /// earlier. Each of the two runs ends with single words where fewer than eight remain.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TwistVector256(Span<uint> state)
    {
        ref uint s = ref MemoryMarshal.GetReference(state);
        const int width = 8;
        int k = 0;
        for (; k + width <= StateSize - ShiftSize; k += width)
        {
            var mixed = Mix(Vector256.LoadUnsafe(ref s, (nuint)k), Vector256.LoadUnsafe(ref s, (nuint)(k + 1)));
            (Vector256.LoadUnsafe(ref s, (nuint)(k + ShiftSize)) ^ mixed).StoreUnsafe(ref s, (nuint)k);
        }

        for (; k < StateSize - ShiftSize; k++)
        {
            state[k] = state[k + ShiftSize] ^ Mix(state[k], state[k + 1]);
        }

        for (; k + width <= StateSize - 1; k += width)
        {
            var mixed = Mix(Vector256.LoadUnsafe(ref s, (nuint)k), Vector256.LoadUnsafe(ref s, (nuint)(k + 1)));
            (Vector256.LoadUnsafe(ref s, (nuint)(k + ShiftSize - StateSize)) ^ mixed).StoreUnsafe(ref s, (nuint)k);
        }

        TwistScalar(state, k);
    }

    /// <summary>
    /// The twist sixteen words at a time, in 39 whole vectors with no single words left over (the reasoning of
    /// <see cref="TwistVector256"/> holds for 16 lanes). The two vectors in which the rule for word k changes gather
    /// the words they read from two loads, with one lane-aligning instruction (<c>valignd</c> where AVX-512F is there).
    /// </summary>
    /// <remarks>
    /// Words 224–239 straddle k = n − m = 227: words 224–226 read the old words 621–623, words 227–239 the renewed words
    /// 0–12. Words 608–623 end at word 623, whose following word is the renewed word 0. A scalar loop for those 16
    /// words took a quarter of the twist's time.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TwistVector512(Span<uint> state)
    {
        ref uint s = ref MemoryMarshal.GetReference(state);
        const int width = 16;
        const int straddle = (StateSize - ShiftSize) / width * width; // 224: the vector holding word n − m
        const int last = StateSize - width; // 608
        const byte oldWords = StateSize - ShiftSize - straddle; // 3 words of the straddling vector read old words

        int k = 0;
        for (; k < straddle; k += width)
        {
            Renew(Vector512.LoadUnsafe(ref s, (nuint)k), Vector512.LoadUnsafe(ref s, (nuint)(k + 1)), Vector512.LoadUnsafe(ref s, (nuint)(k + ShiftSize)))
                .StoreUnsafe(ref s, (nuint)k);
        }

        var renewedFirst = Vector512.LoadUnsafe(ref s, 0);
        var oldLast = Vector512.LoadUnsafe(ref s, last);
        var straddling = AlignRight(renewedFirst, oldLast, width - oldWords);
        Renew(Vector512.LoadUnsafe(ref s, straddle), Vector512.LoadUnsafe(ref s, straddle + 1), straddling).StoreUnsafe(ref s, straddle);

        for (k = straddle + width; k < last; k += width)
        {
            Renew(Vector512.LoadUnsafe(ref s, (nuint)k), Vector512.LoadUnsafe(ref s, (nuint)(k + 1)), Vector512.LoadUnsafe(ref s, (nuint)(k + ShiftSize - StateSize)))
                .StoreUnsafe(ref s, (nuint)k);
        }

        Renew(oldLast, AlignRight(renewedFirst, oldLast, 1), Vector512.LoadUnsafe(ref s, last + ShiftSize - StateSize)).StoreUnsafe(ref s, last);
    }

    /// <summary>Tempering and conversion one word at a time, from position <paramref name="from"/> on.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TemperScalar(ReadOnlySpan<uint> words, Span<float> destination, int from)
    {
        for (int i = from; i < words.Length; i++)
        {
            destination[i] = (Temper(words[i]) & FloatMantissa) * FloatScale;
        }
    }

    /// <summary>Tempering and conversion eight words at a time; the conversion of a 24-bit integer and the scaling by 2^-24 are exact.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TemperVector256(ReadOnlySpan<uint> words, Span<float> destination)
    {
        ref uint w = ref MemoryMarshal.GetReference(words);
        ref float d = ref MemoryMarshal.GetReference(destination);
        int i = 0;
        for (; i + 8 <= words.Length; i += 8)
        {
            var y = Temper(Vector256.LoadUnsafe(ref w, (nuint)i));
            (Vector256.ConvertToSingle((y & Vector256.Create(FloatMantissa)).AsInt32()) * FloatScale).StoreUnsafe(ref d, (nuint)i);
        }

        TemperScalar(words, destination, i);
    }

    /// <summary>Tempering and conversion sixteen words at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TemperVector512(ReadOnlySpan<uint> words, Span<float> destination)
    {
        ref uint w = ref MemoryMarshal.GetReference(words);
        ref float d = ref MemoryMarshal.GetReference(destination);
        int i = 0;
        for (; i + 16 <= words.Length; i += 16)
        {
            ToFloatUniforms(Temper(Vector512.LoadUnsafe(ref w, (nuint)i))).StoreUnsafe(ref d, (nuint)i);
        }

        TemperScalar(words, destination, i);
    }

    // The low 24 bits of tempered words as floats times 2^-24 (both exact).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ToFloatUniforms(Vector512<uint> tempered) =>
        Vector512.ConvertToSingle((tempered & Vector512.Create(FloatMantissa)).AsInt32()) * FloatScale;

    // The twist of one word: the upper bit of word k and the lower 31 of word k+1, times the matrix.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Mix(uint current, uint following)
    {
        uint y = (current & UpperMask) | (following & LowerMask);
        return (y >> 1) ^ ((y & 1u) * MatrixA);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Mix(Vector256<uint> current, Vector256<uint> following)
    {
        var y = (current & Vector256.Create(UpperMask)) | (following & Vector256.Create(LowerMask));
        var odd = Vector256.Equals(y & Vector256<uint>.One, Vector256<uint>.One);
        return (y >> 1) ^ (odd & Vector256.Create(MatrixA));
    }

    // The 512-bit twist and tempering are written for AVX-512's three-input logic instruction (vpternlogd): the word
    // pair's bit merge is one bitwise select, the lowest bit becomes an all-ones or all-zeros mask by negation, and each
    // tempering step's "xor with a masked shift" is one instruction after the shift. The same bits as the plain forms.
    //
    // Renew: word k+m (or k+m−n) xor the twist of words k and k+1, the renewed word k.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Renew(Vector512<uint> current, Vector512<uint> following, Vector512<uint> distant)
    {
        var y = Vector512.ConditionalSelect(Vector512.Create(UpperMask), current, following);
        var matrix = (Vector512<uint>.Zero - (y & Vector512<uint>.One)) & Vector512.Create(MatrixA);
        return Xor3(y >> 1, matrix, distant);
    }

    // The 16 words from lane `count` of [lower | upper]: lower's last 16 − count lanes, then upper's first count lanes.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> AlignRight(Vector512<uint> upper, Vector512<uint> lower, [ConstantExpected(Min = 0, Max = 15)] byte count)
    {
        if (Avx512F.IsSupported) return Avx512F.AlignRight32(upper, lower, count);
        Span<uint> both = stackalloc uint[32];
        lower.CopyTo(both);
        upper.CopyTo(both[16..]);
        return Vector512.Create<uint>(both.Slice(count, 16));
    }

    // a ^ b ^ c in one vpternlogd (0x96) where AVX-512F is there.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Xor3(Vector512<uint> a, Vector512<uint> b, Vector512<uint> c) =>
        Avx512F.IsSupported ? Avx512F.TernaryLogic(a, b, c, 0x96) : a ^ b ^ c;

    // a ^ (b & c) in one vpternlogd (0x78) where AVX-512F is there.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> XorAnd(Vector512<uint> a, Vector512<uint> b, Vector512<uint> c) =>
        Avx512F.IsSupported ? Avx512F.TernaryLogic(a, b, c, 0x78) : a ^ (b & c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Temper(uint y)
    {
        y ^= y >> 11;
        y ^= (y << 7) & TemperB;
        y ^= (y << 15) & TemperC;
        return y ^ (y >> 18);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Temper(Vector256<uint> y)
    {
        y ^= y >> 11;
        y ^= (y << 7) & Vector256.Create(TemperB);
        y ^= (y << 15) & Vector256.Create(TemperC);
        return y ^ (y >> 18);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Temper(Vector512<uint> y)
    {
        y ^= y >> 11;
        y = XorAnd(y, y << 7, Vector512.Create(TemperB));
        y = XorAnd(y, y << 15, Vector512.Create(TemperC));
        return y ^ (y >> 18);
    }
}
