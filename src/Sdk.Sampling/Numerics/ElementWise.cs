using Diffusion.Sdk.Abstractions;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// One pass over memory for a whole per-element formula. A sampler step written as a chain of
/// <c>TensorPrimitives</c> calls reads and writes every intermediate tensor; on latents that fit in the cache
/// (a 1×4×64×64 latent is 64 KiB) that traffic, not the arithmetic, is the step's cost. Here the formula is an
/// operator struct evaluated on vector registers (<see cref="IFloatVector{TSelf}"/>: 512-bit ones where the machine
/// has AVX-512, <see cref="System.Numerics.Vector{T}"/> otherwise), so each input is read once and the result written once.
/// </summary>
/// <remarks>
/// <para>
/// Rounding: write the formula with the operations, and in the order, of the chain it replaces. Vector <c>+ − × ÷</c>
/// round each result to float32 exactly as the scalar operations and the <c>TensorPrimitives</c> calls do (the JIT
/// never contracts a multiply and an add into a fused multiply-add), so the fused step gives the same bits, at every
/// register width. The elements after the last whole vector are copied into a padded vector and computed the same way.
/// </para>
/// <para>
/// The destination may be the same memory as any input (each element is read before it is written), but must not
/// overlap one partially (shifted). Nothing is allocated.
/// </para>
/// <para>
/// The loops are compiled fully optimized on first use (<see cref="MethodImplOptions.AggressiveOptimization"/>):
/// with tiered compilation a sampler's step would otherwise run its first runs as unoptimized tier-0 code, where
/// the operator is not inlined and every vector goes through the stack, many times slower, for as many steps as a
/// user's whole run takes. Optimization changes no rounding. The last elements (fewer than a register) are computed
/// in a method of their own: with its stack buffer in the loop's method, the JIT spilled and reloaded the operator's
/// scalars on every iteration, which made a four-input pass twice as slow.
/// </para>
/// </remarks>
public static class ElementWise
{
    /// <summary>Lanes per register in this process: 16 where <see cref="Vector512.IsHardwareAccelerated"/>, else <see cref="System.Numerics.Vector{T}.Count"/>.</summary>
    public static int Width => Vector512.IsHardwareAccelerated ? FloatVector512.Count : FloatVectorPlatform.Count;

    /// <summary>A formula of one tensor.</summary>
    public interface IOperator1
    {
        /// <summary>The formula on one vector of elements.</summary>
        /// <typeparam name="T">The register type, chosen by <see cref="ElementWise"/> for the machine.</typeparam>
        T Invoke<T>(T a) where T : struct, IFloatVector<T>;
    }

    /// <summary>A formula of two tensors.</summary>
    public interface IOperator2
    {
        /// <summary>The formula on one vector of elements.</summary>
        /// <typeparam name="T">The register type, chosen by <see cref="ElementWise"/> for the machine.</typeparam>
        T Invoke<T>(T a, T b) where T : struct, IFloatVector<T>;
    }

    /// <summary>A formula of three tensors.</summary>
    public interface IOperator3
    {
        /// <summary>The formula on one vector of elements.</summary>
        /// <typeparam name="T">The register type, chosen by <see cref="ElementWise"/> for the machine.</typeparam>
        T Invoke<T>(T a, T b, T c) where T : struct, IFloatVector<T>;
    }

    /// <summary>A formula of four tensors.</summary>
    public interface IOperator4
    {
        /// <summary>The formula on one vector of elements.</summary>
        /// <typeparam name="T">The register type, chosen by <see cref="ElementWise"/> for the machine.</typeparam>
        T Invoke<T>(T a, T b, T c, T d) where T : struct, IFloatVector<T>;
    }

    /// <summary>A formula of five tensors.</summary>
    public interface IOperator5
    {
        /// <summary>The formula on one vector of elements.</summary>
        /// <typeparam name="T">The register type, chosen by <see cref="ElementWise"/> for the machine.</typeparam>
        T Invoke<T>(T a, T b, T c, T d, T e) where T : struct, IFloatVector<T>;
    }

    /// <summary>A formula of two tensors with two results (for example an intermediate the caller keeps, and the step's output).</summary>
    /// <remarks>
    /// An operator that is also an <see cref="IOperator3"/> fits both <c>Apply(op, a, b, c, destination)</c> and
    /// <c>Apply(op, a, b, destination, second)</c>: pass a third input as a <see cref="ReadOnlySpan{T}"/>, or a
    /// writable span binds it as the first result.
    /// </remarks>
    public interface IOperator2To2
    {
        /// <summary>The formula on one vector of elements; returns the first result.</summary>
        /// <typeparam name="T">The register type, chosen by <see cref="ElementWise"/> for the machine.</typeparam>
        T Invoke<T>(T a, T b, out T second) where T : struct, IFloatVector<T>;
    }

    /// <summary>A formula of three tensors with two results (for example an intermediate the caller keeps, and the step's output).</summary>
    public interface IOperator3To2
    {
        /// <summary>The formula on one vector of elements; returns the first result.</summary>
        /// <typeparam name="T">The register type, chosen by <see cref="ElementWise"/> for the machine.</typeparam>
        T Invoke<T>(T a, T b, T c, out T second) where T : struct, IFloatVector<T>;
    }

    /// <summary>A formula of four tensors with two results.</summary>
    public interface IOperator4To2
    {
        /// <summary>The formula on one vector of elements; returns the first result.</summary>
        /// <typeparam name="T">The register type, chosen by <see cref="ElementWise"/> for the machine.</typeparam>
        T Invoke<T>(T a, T b, T c, T d, out T second) where T : struct, IFloatVector<T>;
    }

    /// <summary>A formula of five tensors with two results.</summary>
    public interface IOperator5To2
    {
        /// <summary>The formula on one vector of elements; returns the first result.</summary>
        /// <typeparam name="T">The register type, chosen by <see cref="ElementWise"/> for the machine.</typeparam>
        T Invoke<T>(T a, T b, T c, T d, T e, out T second) where T : struct, IFloatVector<T>;
    }

    /// <summary>destination[i] = op(a[i]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply<TOperator>(TOperator op, ReadOnlySpan<float> a, Span<float> destination)
        where TOperator : struct, IOperator1
    {
        Check(destination, a, a, a, a, a);
        if (Vector512.IsHardwareAccelerated) Run<TOperator, FloatVector512>(op, a, destination);
        else Run<TOperator, FloatVectorPlatform>(op, a, destination);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TOperator, T>(TOperator op, ReadOnlySpan<float> a, Span<float> destination)
        where TOperator : struct, IOperator1
        where T : struct, IFloatVector<T>
    {
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rDestination = ref MemoryMarshal.GetReference(destination);
        var width = T.Count;
        var i = 0;
        for (; i <= destination.Length - width; i += width)
        {
            var offset = (nuint)i;
            op.Invoke(T.Load(ref ra, offset)).Store(ref rDestination, offset);
        }
        if (i != destination.Length) Tail<TOperator, T>(op, a[i..], destination[i..]);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tail<TOperator, T>(TOperator op, ReadOnlySpan<float> a, Span<float> destination)
        where TOperator : struct, IOperator1
        where T : struct, IFloatVector<T>
    {
        Span<float> lanes = stackalloc float[2 * T.Count];
        op.Invoke(Lane<T>(a, lanes, 0)).Store(ref MemoryMarshal.GetReference(lanes), 0);
        lanes[..destination.Length].CopyTo(destination);
    }

    /// <summary>destination[i] = op(a[i], b[i]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply<TOperator>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> destination)
        where TOperator : struct, IOperator2
    {
        Check(destination, a, b, b, b, b);
        if (Vector512.IsHardwareAccelerated) Run<TOperator, FloatVector512>(op, a, b, destination);
        else Run<TOperator, FloatVectorPlatform>(op, a, b, destination);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> destination)
        where TOperator : struct, IOperator2
        where T : struct, IFloatVector<T>
    {
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        ref var rDestination = ref MemoryMarshal.GetReference(destination);
        var width = T.Count;
        var i = 0;
        for (; i <= destination.Length - width; i += width)
        {
            var offset = (nuint)i;
            op.Invoke(T.Load(ref ra, offset), T.Load(ref rb, offset)).Store(ref rDestination, offset);
        }
        if (i != destination.Length) Tail<TOperator, T>(op, a[i..], b[i..], destination[i..]);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tail<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> destination)
        where TOperator : struct, IOperator2
        where T : struct, IFloatVector<T>
    {
        Span<float> lanes = stackalloc float[3 * T.Count];
        op.Invoke(Lane<T>(a, lanes, 0), Lane<T>(b, lanes, 1)).Store(ref MemoryMarshal.GetReference(lanes), 0);
        lanes[..destination.Length].CopyTo(destination);
    }

    /// <summary>destination[i] = op(a[i], b[i], c[i]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply<TOperator>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> destination)
        where TOperator : struct, IOperator3
    {
        Check(destination, a, b, c, c, c);
        if (Vector512.IsHardwareAccelerated) Run<TOperator, FloatVector512>(op, a, b, c, destination);
        else Run<TOperator, FloatVectorPlatform>(op, a, b, c, destination);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> destination)
        where TOperator : struct, IOperator3
        where T : struct, IFloatVector<T>
    {
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        ref var rc = ref MemoryMarshal.GetReference(c);
        ref var rDestination = ref MemoryMarshal.GetReference(destination);
        var width = T.Count;
        var i = 0;
        for (; i <= destination.Length - width; i += width)
        {
            var offset = (nuint)i;
            op.Invoke(T.Load(ref ra, offset), T.Load(ref rb, offset), T.Load(ref rc, offset)).Store(ref rDestination, offset);
        }
        if (i != destination.Length) Tail<TOperator, T>(op, a[i..], b[i..], c[i..], destination[i..]);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tail<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> destination)
        where TOperator : struct, IOperator3
        where T : struct, IFloatVector<T>
    {
        Span<float> lanes = stackalloc float[4 * T.Count];
        op.Invoke(Lane<T>(a, lanes, 0), Lane<T>(b, lanes, 1), Lane<T>(c, lanes, 2)).Store(ref MemoryMarshal.GetReference(lanes), 0);
        lanes[..destination.Length].CopyTo(destination);
    }

    /// <summary>destination[i] = op(a[i], b[i], c[i], d[i]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply<TOperator>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, ReadOnlySpan<float> d, Span<float> destination)
        where TOperator : struct, IOperator4
    {
        Check(destination, a, b, c, d, d);
        if (Vector512.IsHardwareAccelerated) Run<TOperator, FloatVector512>(op, a, b, c, d, destination);
        else Run<TOperator, FloatVectorPlatform>(op, a, b, c, d, destination);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, ReadOnlySpan<float> d, Span<float> destination)
        where TOperator : struct, IOperator4
        where T : struct, IFloatVector<T>
    {
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        ref var rc = ref MemoryMarshal.GetReference(c);
        ref var rd = ref MemoryMarshal.GetReference(d);
        ref var rDestination = ref MemoryMarshal.GetReference(destination);
        var width = T.Count;
        var i = 0;
        for (; i <= destination.Length - width; i += width)
        {
            var offset = (nuint)i;
            op.Invoke(T.Load(ref ra, offset), T.Load(ref rb, offset), T.Load(ref rc, offset), T.Load(ref rd, offset)).Store(ref rDestination, offset);
        }
        if (i != destination.Length) Tail<TOperator, T>(op, a[i..], b[i..], c[i..], d[i..], destination[i..]);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tail<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, ReadOnlySpan<float> d, Span<float> destination)
        where TOperator : struct, IOperator4
        where T : struct, IFloatVector<T>
    {
        Span<float> lanes = stackalloc float[5 * T.Count];
        op.Invoke(Lane<T>(a, lanes, 0), Lane<T>(b, lanes, 1), Lane<T>(c, lanes, 2), Lane<T>(d, lanes, 3)).Store(ref MemoryMarshal.GetReference(lanes), 0);
        lanes[..destination.Length].CopyTo(destination);
    }

    /// <summary>destination[i] = op(a[i], b[i], c[i], d[i], e[i]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply<TOperator>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, ReadOnlySpan<float> d, ReadOnlySpan<float> e, Span<float> destination)
        where TOperator : struct, IOperator5
    {
        Check(destination, a, b, c, d, e);
        if (Vector512.IsHardwareAccelerated) Run<TOperator, FloatVector512>(op, a, b, c, d, e, destination);
        else Run<TOperator, FloatVectorPlatform>(op, a, b, c, d, e, destination);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, ReadOnlySpan<float> d, ReadOnlySpan<float> e, Span<float> destination)
        where TOperator : struct, IOperator5
        where T : struct, IFloatVector<T>
    {
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        ref var rc = ref MemoryMarshal.GetReference(c);
        ref var rd = ref MemoryMarshal.GetReference(d);
        ref var re = ref MemoryMarshal.GetReference(e);
        ref var rDestination = ref MemoryMarshal.GetReference(destination);
        var width = T.Count;
        var i = 0;
        for (; i <= destination.Length - width; i += width)
        {
            var offset = (nuint)i;
            op.Invoke(T.Load(ref ra, offset), T.Load(ref rb, offset), T.Load(ref rc, offset), T.Load(ref rd, offset), T.Load(ref re, offset)).Store(ref rDestination, offset);
        }
        if (i != destination.Length) Tail<TOperator, T>(op, a[i..], b[i..], c[i..], d[i..], e[i..], destination[i..]);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tail<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, ReadOnlySpan<float> d, ReadOnlySpan<float> e, Span<float> destination)
        where TOperator : struct, IOperator5
        where T : struct, IFloatVector<T>
    {
        Span<float> lanes = stackalloc float[6 * T.Count];
        op.Invoke(Lane<T>(a, lanes, 0), Lane<T>(b, lanes, 1), Lane<T>(c, lanes, 2), Lane<T>(d, lanes, 3), Lane<T>(e, lanes, 4)).Store(ref MemoryMarshal.GetReference(lanes), 0);
        lanes[..destination.Length].CopyTo(destination);
    }

    /// <summary>(destination[i], second[i]) = op(a[i], b[i]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply<TOperator>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> destination, Span<float> second)
        where TOperator : struct, IOperator2To2
    {
        Check(destination, a, b, b, b, b);
        Check(second, a, b, b, b, b);
        CheckApart(destination, second);
        if (Vector512.IsHardwareAccelerated) Run<TOperator, FloatVector512>(op, a, b, destination, second);
        else Run<TOperator, FloatVectorPlatform>(op, a, b, destination, second);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> destination, Span<float> second)
        where TOperator : struct, IOperator2To2
        where T : struct, IFloatVector<T>
    {
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        ref var rDestination = ref MemoryMarshal.GetReference(destination);
        ref var rSecond = ref MemoryMarshal.GetReference(second);
        var width = T.Count;
        var i = 0;
        for (; i <= destination.Length - width; i += width)
        {
            var offset = (nuint)i;
            op.Invoke(T.Load(ref ra, offset), T.Load(ref rb, offset), out var other).Store(ref rDestination, offset);
            other.Store(ref rSecond, offset);
        }
        if (i != destination.Length) Tail<TOperator, T>(op, a[i..], b[i..], destination[i..], second[i..]);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tail<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> destination, Span<float> second)
        where TOperator : struct, IOperator2To2
        where T : struct, IFloatVector<T>
    {
        Span<float> lanes = stackalloc float[3 * T.Count];
        op.Invoke(Lane<T>(a, lanes, 0), Lane<T>(b, lanes, 1), out var last).Store(ref MemoryMarshal.GetReference(lanes), 0);
        StoreTail(lanes, last, destination, second);
    }

    /// <summary>(destination[i], second[i]) = op(a[i], b[i], c[i]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply<TOperator>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> destination, Span<float> second)
        where TOperator : struct, IOperator3To2
    {
        Check(destination, a, b, c, c, c);
        Check(second, a, b, c, c, c);
        CheckApart(destination, second);
        if (Vector512.IsHardwareAccelerated) Run<TOperator, FloatVector512>(op, a, b, c, destination, second);
        else Run<TOperator, FloatVectorPlatform>(op, a, b, c, destination, second);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> destination, Span<float> second)
        where TOperator : struct, IOperator3To2
        where T : struct, IFloatVector<T>
    {
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        ref var rc = ref MemoryMarshal.GetReference(c);
        ref var rDestination = ref MemoryMarshal.GetReference(destination);
        ref var rSecond = ref MemoryMarshal.GetReference(second);
        var width = T.Count;
        var i = 0;
        for (; i <= destination.Length - width; i += width)
        {
            var offset = (nuint)i;
            op.Invoke(T.Load(ref ra, offset), T.Load(ref rb, offset), T.Load(ref rc, offset), out var other).Store(ref rDestination, offset);
            other.Store(ref rSecond, offset);
        }
        if (i != destination.Length) Tail<TOperator, T>(op, a[i..], b[i..], c[i..], destination[i..], second[i..]);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tail<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> destination, Span<float> second)
        where TOperator : struct, IOperator3To2
        where T : struct, IFloatVector<T>
    {
        Span<float> lanes = stackalloc float[4 * T.Count];
        op.Invoke(Lane<T>(a, lanes, 0), Lane<T>(b, lanes, 1), Lane<T>(c, lanes, 2), out var last).Store(ref MemoryMarshal.GetReference(lanes), 0);
        StoreTail(lanes, last, destination, second);
    }

    /// <summary>(destination[i], second[i]) = op(a[i], b[i], c[i], d[i]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply<TOperator>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, ReadOnlySpan<float> d, Span<float> destination, Span<float> second)
        where TOperator : struct, IOperator4To2
    {
        Check(destination, a, b, c, d, d);
        Check(second, a, b, c, d, d);
        CheckApart(destination, second);
        if (Vector512.IsHardwareAccelerated) Run<TOperator, FloatVector512>(op, a, b, c, d, destination, second);
        else Run<TOperator, FloatVectorPlatform>(op, a, b, c, d, destination, second);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, ReadOnlySpan<float> d, Span<float> destination, Span<float> second)
        where TOperator : struct, IOperator4To2
        where T : struct, IFloatVector<T>
    {
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        ref var rc = ref MemoryMarshal.GetReference(c);
        ref var rd = ref MemoryMarshal.GetReference(d);
        ref var rDestination = ref MemoryMarshal.GetReference(destination);
        ref var rSecond = ref MemoryMarshal.GetReference(second);
        var width = T.Count;
        var i = 0;
        for (; i <= destination.Length - width; i += width)
        {
            var offset = (nuint)i;
            op.Invoke(T.Load(ref ra, offset), T.Load(ref rb, offset), T.Load(ref rc, offset), T.Load(ref rd, offset), out var other).Store(ref rDestination, offset);
            other.Store(ref rSecond, offset);
        }
        if (i != destination.Length) Tail<TOperator, T>(op, a[i..], b[i..], c[i..], d[i..], destination[i..], second[i..]);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tail<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, ReadOnlySpan<float> d, Span<float> destination, Span<float> second)
        where TOperator : struct, IOperator4To2
        where T : struct, IFloatVector<T>
    {
        Span<float> lanes = stackalloc float[5 * T.Count];
        op.Invoke(Lane<T>(a, lanes, 0), Lane<T>(b, lanes, 1), Lane<T>(c, lanes, 2), Lane<T>(d, lanes, 3), out var last).Store(ref MemoryMarshal.GetReference(lanes), 0);
        StoreTail(lanes, last, destination, second);
    }

    /// <summary>(destination[i], second[i]) = op(a[i], b[i], c[i], d[i], e[i]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply<TOperator>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, ReadOnlySpan<float> d, ReadOnlySpan<float> e, Span<float> destination, Span<float> second)
        where TOperator : struct, IOperator5To2
    {
        Check(destination, a, b, c, d, e);
        Check(second, a, b, c, d, e);
        CheckApart(destination, second);
        if (Vector512.IsHardwareAccelerated) Run<TOperator, FloatVector512>(op, a, b, c, d, e, destination, second);
        else Run<TOperator, FloatVectorPlatform>(op, a, b, c, d, e, destination, second);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, ReadOnlySpan<float> d, ReadOnlySpan<float> e, Span<float> destination, Span<float> second)
        where TOperator : struct, IOperator5To2
        where T : struct, IFloatVector<T>
    {
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        ref var rc = ref MemoryMarshal.GetReference(c);
        ref var rd = ref MemoryMarshal.GetReference(d);
        ref var re = ref MemoryMarshal.GetReference(e);
        ref var rDestination = ref MemoryMarshal.GetReference(destination);
        ref var rSecond = ref MemoryMarshal.GetReference(second);
        var width = T.Count;
        var i = 0;
        for (; i <= destination.Length - width; i += width)
        {
            var offset = (nuint)i;
            op.Invoke(T.Load(ref ra, offset), T.Load(ref rb, offset), T.Load(ref rc, offset), T.Load(ref rd, offset), T.Load(ref re, offset), out var other).Store(ref rDestination, offset);
            other.Store(ref rSecond, offset);
        }
        if (i != destination.Length) Tail<TOperator, T>(op, a[i..], b[i..], c[i..], d[i..], e[i..], destination[i..], second[i..]);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tail<TOperator, T>(TOperator op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, ReadOnlySpan<float> d, ReadOnlySpan<float> e, Span<float> destination, Span<float> second)
        where TOperator : struct, IOperator5To2
        where T : struct, IFloatVector<T>
    {
        Span<float> lanes = stackalloc float[6 * T.Count];
        op.Invoke(Lane<T>(a, lanes, 0), Lane<T>(b, lanes, 1), Lane<T>(c, lanes, 2), Lane<T>(d, lanes, 3), Lane<T>(e, lanes, 4), out var last).Store(ref MemoryMarshal.GetReference(lanes), 0);
        StoreTail(lanes, last, destination, second);
    }

    // Both results of the padded last vector: the first is in lanes[0..width), the second in a register.
    private static void StoreTail<T>(Span<float> lanes, T second, Span<float> destination, Span<float> secondDestination) where T : struct, IFloatVector<T>
    {
        var count = destination.Length;
        lanes[..count].CopyTo(destination);
        second.Store(ref MemoryMarshal.GetReference(lanes), 0);
        lanes[..count].CopyTo(secondDestination);
    }

    private static void CheckApart(Span<float> destination, Span<float> second)
    {
        if (destination.Overlaps(second))
            throw new ArgumentException("The two results must go to separate memory.", nameof(second));
    }

    private static void Check(Span<float> destination, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, ReadOnlySpan<float> d, ReadOnlySpan<float> e)
    {
        var n = destination.Length;
        if (a.Length != n || b.Length != n || c.Length != n || d.Length != n || e.Length != n)
            throw new ArgumentException($"Every input must have the destination's length ({n}); got {a.Length}, {b.Length}, {c.Length}, {d.Length}, {e.Length}.");
        ReadOnlySpan<float> target = destination;
        if (Shifted(target, a) || Shifted(target, b) || Shifted(target, c) || Shifted(target, d) || Shifted(target, e))
            throw new ArgumentException("The destination overlaps an input partially; it may only be exactly the same memory as an input.", nameof(destination));
    }

    private static bool Shifted(ReadOnlySpan<float> destination, ReadOnlySpan<float> input) => destination.Overlaps(input, out var offset) && offset != 0;

    /// <summary>
    /// The last elements of an input (fewer than a vector) as a whole vector: copied into slot <paramref name="slot"/>
    /// of zeroed stack memory (slot 0 later receives the result, after every input has been loaded).
    /// </summary>
    private static T Lane<T>(ReadOnlySpan<float> rest, Span<float> lanes, int slot) where T : struct, IFloatVector<T>
    {
        var width = T.Count;
        var lane = lanes.Slice((slot + 1) * width, width);
        rest.CopyTo(lane);
        return T.Load(ref MemoryMarshal.GetReference(lane), 0);
    }
}
