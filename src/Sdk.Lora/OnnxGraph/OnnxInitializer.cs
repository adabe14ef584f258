namespace Diffusion.Sdk.Lora.OnnxGraph;

/// <summary>
/// One initializer of an ONNX graph and where its values are: raw bytes inside the model file, packed
/// <c>float_data</c> / <c>int32_data</c> inside it, or external data in another file beside it.
/// </summary>
internal sealed record OnnxInitializer(string Name, long[] Dims, int DataType)
{
    /// <summary>ONNX TensorProto.DataType values the merge reads and writes.</summary>
    public const int Float = 1, Float16 = 10, BFloat16 = 16;

    /// <summary>The file that holds the values (the model file itself unless external).</summary>
    public string? DataFile { get; init; }

    /// <summary>Where the values start in <see cref="DataFile"/>.</summary>
    public long DataOffset { get; init; }

    /// <summary>How many bytes they take there.</summary>
    public long DataLength { get; init; }

    /// <summary>How the bytes are encoded.</summary>
    public OnnxDataEncoding Encoding { get; init; }

    /// <summary>Values given one by one (unpacked <c>float_data</c>), when that is how the file stores them.</summary>
    public IReadOnlyList<float>? LooseFloats { get; init; }

    /// <summary>The number of elements.</summary>
    public long ElementCount => Dims.Aggregate(1L, (a, d) => checked(a * d));

    /// <summary>The dimensions as text, for messages.</summary>
    public string ShapeText => "[" + string.Join(", ", Dims) + "]";

    /// <summary>The element type's ONNX name, for messages.</summary>
    public string TypeName => DataType switch
    {
        Float => "float32", Float16 => "float16", BFloat16 => "bfloat16", 11 => "float64", 2 => "uint8", 3 => "int8", 6 => "int32", 7 => "int64",
        _ => $"ONNX data type {DataType}",
    };
}

/// <summary>How an initializer's values are stored.</summary>
internal enum OnnxDataEncoding
{
    /// <summary>No values were found.</summary>
    None,
    /// <summary>Little-endian bytes of the element type (<c>raw_data</c> or external data).</summary>
    Raw,
    /// <summary>Packed <c>float_data</c>: 4-byte floats.</summary>
    PackedFloats,
    /// <summary>Packed <c>int32_data</c>: varints, one per element (how float16 and bfloat16 are stored without raw data).</summary>
    PackedVarints,
    /// <summary>Unpacked <c>float_data</c>, held in <see cref="OnnxInitializer.LooseFloats"/>.</summary>
    Loose,
}
