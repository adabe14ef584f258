using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Sdk.Onnx;

/// <summary>
/// A tensor whose data lives in a managed array on the pinned object heap that ONNX Runtime reads (inputs) or writes (outputs) in place.
/// The array only grows, and the <see cref="OrtValue"/> over it is rebuilt only when the shape changes, so repeated
/// calls with the same shape allocate nothing.
/// </summary>
internal sealed class PinnedTensor<T> : IDisposable where T : unmanaged
{
    private T[] _array = [];
    private long[] _shape = [];
    private int _length;

    /// <summary>The value over the current shape, or null before the first <see cref="Ensure"/>.</summary>
    public OrtValue? Value { get; private set; }

    /// <summary>The elements of the current shape.</summary>
    public Span<T> Span => _array.AsSpan(0, _length);

    /// <summary>Makes <see cref="Value"/> a tensor of <paramref name="shape"/>; returns whether it was rebuilt.</summary>
    public bool Ensure(ReadOnlySpan<long> shape)
    {
        if (Value is not null && shape.SequenceEqual(_shape)) return false;
        var length = 1L;
        foreach (var d in shape) length *= d;
        if (length > Array.MaxLength) throw new OutOfMemoryException($"A tensor of {length} elements does not fit in one buffer.");
        Value?.Dispose();
        Value = null;
        if (_array.Length < length) _array = GC.AllocateArray<T>((int)Math.Max(length, 1), pinned: true);
        _length = (int)length;
        _shape = shape.ToArray();
        // The array lives on the pinned object heap, so the value can point at it directly: no GCHandle to release,
        // and the array stays reachable through this object for as long as the value does.
        Value = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, ElementType, _shape,
            Marshal.UnsafeAddrOfPinnedArrayElement(_array, 0), (long)_length * Unsafe.SizeOf<T>());
        return true;
    }

    private static readonly TensorElementType ElementType =
        typeof(T) == typeof(float) ? TensorElementType.Float
        : typeof(T) == typeof(Float16) ? TensorElementType.Float16
        : typeof(T) == typeof(long) ? TensorElementType.Int64
        : typeof(T) == typeof(int) ? TensorElementType.Int32
        : throw new NotSupportedException($"No ONNX tensor type for {typeof(T)}.");

    public void Dispose()
    {
        Value?.Dispose();
        Value = null;
    }
}

/// <summary>
/// Float32 values held in the element type a model declares: float32 as they are, float16 rounded to nearest, and
/// int64/int32 (a conditioning input declared as integers) rounded to the nearest integer, halves away from zero.
/// </summary>
internal sealed class FloatTensor : IDisposable
{
    private readonly PinnedTensor<float>? _single;
    private readonly PinnedTensor<Float16>? _half;
    private readonly PinnedTensor<long>? _int64;
    private readonly PinnedTensor<int>? _int32;

    public FloatTensor(TensorElementType type)
    {
        switch (type)
        {
            case TensorElementType.Float16: _half = new PinnedTensor<Float16>(); break;
            case TensorElementType.Int64: _int64 = new PinnedTensor<long>(); break;
            case TensorElementType.Int32: _int32 = new PinnedTensor<int>(); break;
            default: _single = new PinnedTensor<float>(); break;
        }
    }

    public OrtValue Value => (_single?.Value ?? _half?.Value ?? _int64?.Value ?? _int32!.Value)!;

    public bool Ensure(ReadOnlySpan<long> shape) => _single?.Ensure(shape) ?? _half?.Ensure(shape) ?? _int64?.Ensure(shape) ?? _int32!.Ensure(shape);

    public void Write(ReadOnlySpan<float> source, int offset)
    {
        if (_single is not null) source.CopyTo(_single.Span[offset..]);
        else if (_half is not null) TensorPrimitives.ConvertToHalf(source, AsHalf(_half.Span)[offset..]);
        else if (_int64 is not null) for (var i = 0; i < source.Length; i++) _int64.Span[offset + i] = (long)MathF.Round(source[i], MidpointRounding.AwayFromZero);
        else for (var i = 0; i < source.Length; i++) _int32!.Span[offset + i] = (int)MathF.Round(source[i], MidpointRounding.AwayFromZero);
    }

    public void Clear(int offset)
    {
        if (_single is not null) _single.Span[offset..].Clear();
        else if (_half is not null) _half.Span[offset..].Clear();
        else if (_int64 is not null) _int64.Span[offset..].Clear();
        else _int32!.Span[offset..].Clear();
    }

    public void Read(int offset, Span<float> destination)
    {
        if (_single is not null) _single.Span.Slice(offset, destination.Length).CopyTo(destination);
        else if (_half is not null) TensorPrimitives.ConvertToSingle(AsHalf(_half.Span).Slice(offset, destination.Length), destination);
        else throw new InvalidOperationException("Integer tensors are inputs only.");
    }

    // ONNX Runtime's Float16 and .NET's Half are both IEEE 754 binary16.
    private static Span<Half> AsHalf(Span<Float16> span) => MemoryMarshal.Cast<Float16, Half>(span);

    public void Dispose()
    {
        _single?.Dispose();
        _half?.Dispose();
        _int64?.Dispose();
        _int32?.Dispose();
    }
}
