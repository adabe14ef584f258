using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// A register of float32 lanes, as an <see cref="ElementWise"/> operator sees its inputs. An operator is written once,
/// generic over this interface, and <see cref="ElementWise"/> runs it on the widest registers the machine computes on
/// at full speed: 512-bit ones where <see cref="Vector512.IsHardwareAccelerated"/> (AVX-512: twice the lanes per
/// division, the operation a step's cost rests on when its data sit in the cache), <see cref="Vector{T}"/> otherwise
/// (AVX2, SSE, Arm). Every operation is the IEEE single-precision operation of the scalar code, so the width never
/// changes a result.
/// </summary>
/// <typeparam name="TSelf">The register type.</typeparam>
public interface IFloatVector<TSelf> where TSelf : struct, IFloatVector<TSelf>
{
    /// <summary>Lanes per register.</summary>
    static abstract int Count { get; }

    /// <summary>Every lane set to <paramref name="value"/>.</summary>
    static abstract TSelf Create(float value);

    /// <summary>The <see cref="Count"/> floats at <paramref name="source"/> + <paramref name="offset"/> (no bounds check).</summary>
    static abstract TSelf Load(ref float source, nuint offset);

    /// <summary>Writes the lanes to <paramref name="destination"/> + <paramref name="offset"/> (no bounds check).</summary>
    void Store(ref float destination, nuint offset);

    /// <summary>Lane-wise sum.</summary>
    static abstract TSelf operator +(TSelf left, TSelf right);

    /// <summary>Lane-wise difference.</summary>
    static abstract TSelf operator -(TSelf left, TSelf right);

    /// <summary>Lane-wise product.</summary>
    static abstract TSelf operator *(TSelf left, TSelf right);

    /// <summary>Lane-wise quotient (IEEE division).</summary>
    static abstract TSelf operator /(TSelf left, TSelf right);

    /// <summary>Every lane times a scalar.</summary>
    static abstract TSelf operator *(TSelf left, float right);

    /// <summary>A scalar times every lane.</summary>
    static abstract TSelf operator *(float left, TSelf right);

    /// <summary>Every lane divided by a scalar (IEEE division).</summary>
    static abstract TSelf operator /(TSelf left, float right);

    /// <summary>Lane-wise negation (flips the sign bit).</summary>
    static abstract TSelf operator -(TSelf value);

    /// <summary>
    /// The platform's minimum (x86 <c>minps</c>: the second operand where either is NaN or both are zeros), cheaper
    /// than the IEEE 754-2019 minimum; put the operand whose value should win those cases second.
    /// </summary>
    static abstract TSelf MinNative(TSelf left, TSelf right);

    /// <summary>The platform's maximum; the conventions of <see cref="MinNative"/>.</summary>
    static abstract TSelf MaxNative(TSelf left, TSelf right);
}

/// <summary>512-bit registers (sixteen lanes), where <see cref="Vector512.IsHardwareAccelerated"/>.</summary>
internal readonly struct FloatVector512 : IFloatVector<FloatVector512>
{
    private readonly Vector512<float> _lanes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private FloatVector512(Vector512<float> lanes) => _lanes = lanes;

    public static int Count => Vector512<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVector512 Create(float value) => new(Vector512.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVector512 Load(ref float source, nuint offset) => new(Vector512.LoadUnsafe(ref source, offset));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(ref float destination, nuint offset) => _lanes.StoreUnsafe(ref destination, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVector512 operator +(FloatVector512 left, FloatVector512 right) => new(left._lanes + right._lanes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVector512 operator -(FloatVector512 left, FloatVector512 right) => new(left._lanes - right._lanes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVector512 operator *(FloatVector512 left, FloatVector512 right) => new(left._lanes * right._lanes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVector512 operator /(FloatVector512 left, FloatVector512 right) => new(left._lanes / right._lanes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVector512 operator *(FloatVector512 left, float right) => new(left._lanes * right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVector512 operator *(float left, FloatVector512 right) => new(left * right._lanes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVector512 operator /(FloatVector512 left, float right) => new(left._lanes / right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVector512 operator -(FloatVector512 value) => new(-value._lanes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVector512 MinNative(FloatVector512 left, FloatVector512 right) => new(Vector512.MinNative(left._lanes, right._lanes));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVector512 MaxNative(FloatVector512 left, FloatVector512 right) => new(Vector512.MaxNative(left._lanes, right._lanes));
}

/// <summary><see cref="Vector{T}"/> registers: the runtime's width (256 bits with AVX2, 128 with SSE or Arm NEON).</summary>
internal readonly struct FloatVectorPlatform : IFloatVector<FloatVectorPlatform>
{
    private readonly Vector<float> _lanes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private FloatVectorPlatform(Vector<float> lanes) => _lanes = lanes;

    public static int Count => Vector<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVectorPlatform Create(float value) => new(new Vector<float>(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVectorPlatform Load(ref float source, nuint offset) => new(Vector.LoadUnsafe(ref source, offset));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(ref float destination, nuint offset) => _lanes.StoreUnsafe(ref destination, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVectorPlatform operator +(FloatVectorPlatform left, FloatVectorPlatform right) => new(left._lanes + right._lanes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVectorPlatform operator -(FloatVectorPlatform left, FloatVectorPlatform right) => new(left._lanes - right._lanes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVectorPlatform operator *(FloatVectorPlatform left, FloatVectorPlatform right) => new(left._lanes * right._lanes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVectorPlatform operator /(FloatVectorPlatform left, FloatVectorPlatform right) => new(left._lanes / right._lanes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVectorPlatform operator *(FloatVectorPlatform left, float right) => new(left._lanes * right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVectorPlatform operator *(float left, FloatVectorPlatform right) => new(left * right._lanes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVectorPlatform operator /(FloatVectorPlatform left, float right) => new(left._lanes / right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVectorPlatform operator -(FloatVectorPlatform value) => new(-value._lanes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVectorPlatform MinNative(FloatVectorPlatform left, FloatVectorPlatform right) => new(Vector.MinNative(left._lanes, right._lanes));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVectorPlatform MaxNative(FloatVectorPlatform left, FloatVectorPlatform right) => new(Vector.MaxNative(left._lanes, right._lanes));
}
