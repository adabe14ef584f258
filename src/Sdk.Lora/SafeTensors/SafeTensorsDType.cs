namespace Diffusion.Sdk.Lora.SafeTensors;

/// <summary>The element types of the <c>.safetensors</c> format. Every one is known (so that a file's layout can be checked); <see cref="SafeTensorsFile"/> reads the floating ones as float32.</summary>
public enum SafeTensorsDType
{
    /// <summary><c>BOOL</c>, one byte.</summary>
    Bool,
    /// <summary><c>U8</c>.</summary>
    UInt8,
    /// <summary><c>I8</c>.</summary>
    Int8,
    /// <summary><c>F8_E4M3</c>, one byte.</summary>
    Float8E4M3,
    /// <summary><c>F8_E5M2</c>, one byte.</summary>
    Float8E5M2,
    /// <summary><c>I16</c>.</summary>
    Int16,
    /// <summary><c>U16</c>.</summary>
    UInt16,
    /// <summary><c>F16</c>: IEEE half precision.</summary>
    Float16,
    /// <summary><c>BF16</c>: bfloat16, the upper half of a float32.</summary>
    BFloat16,
    /// <summary><c>I32</c>.</summary>
    Int32,
    /// <summary><c>U32</c>.</summary>
    UInt32,
    /// <summary><c>F32</c>.</summary>
    Float32,
    /// <summary><c>I64</c>.</summary>
    Int64,
    /// <summary><c>U64</c>.</summary>
    UInt64,
    /// <summary><c>F64</c>.</summary>
    Float64,
}

/// <summary>Names and sizes of <see cref="SafeTensorsDType"/>.</summary>
public static class SafeTensorsDTypes
{
    /// <summary>The dtype a header names, or null for a name the format does not define.</summary>
    public static SafeTensorsDType? FromName(string name) => name switch
    {
        "BOOL" => SafeTensorsDType.Bool,
        "U8" => SafeTensorsDType.UInt8,
        "I8" => SafeTensorsDType.Int8,
        "F8_E4M3" => SafeTensorsDType.Float8E4M3,
        "F8_E5M2" => SafeTensorsDType.Float8E5M2,
        "I16" => SafeTensorsDType.Int16,
        "U16" => SafeTensorsDType.UInt16,
        "F16" => SafeTensorsDType.Float16,
        "BF16" => SafeTensorsDType.BFloat16,
        "I32" => SafeTensorsDType.Int32,
        "U32" => SafeTensorsDType.UInt32,
        "F32" => SafeTensorsDType.Float32,
        "I64" => SafeTensorsDType.Int64,
        "U64" => SafeTensorsDType.UInt64,
        "F64" => SafeTensorsDType.Float64,
        _ => null,
    };

    /// <summary>Bytes per element.</summary>
    public static int Size(this SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.Bool or SafeTensorsDType.UInt8 or SafeTensorsDType.Int8 or SafeTensorsDType.Float8E4M3 or SafeTensorsDType.Float8E5M2 => 1,
        SafeTensorsDType.Int16 or SafeTensorsDType.UInt16 or SafeTensorsDType.Float16 or SafeTensorsDType.BFloat16 => 2,
        SafeTensorsDType.Int32 or SafeTensorsDType.UInt32 or SafeTensorsDType.Float32 => 4,
        _ => 8,
    };

    /// <summary>Whether <see cref="SafeTensorsFile.ReadSingle(string)"/> reads it (F32, F16, BF16, F64).</summary>
    public static bool IsReadAsFloat(this SafeTensorsDType dtype) =>
        dtype is SafeTensorsDType.Float32 or SafeTensorsDType.Float16 or SafeTensorsDType.BFloat16 or SafeTensorsDType.Float64;
}
