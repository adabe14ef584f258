using Diffusion.Sdk.Abstractions;
using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Diffusion.Sdk.Lora.SafeTensors;

/// <summary>
/// A <c>.safetensors</c> file read into memory, its header checked (<see cref="SafeTensorsHeader"/>), whose floating
/// tensors (F32, F16, BF16, F64) are read as float32: float16 and bfloat16 values widen exactly, float64 values are
/// rounded to the nearest float32.
/// </summary>
public sealed class SafeTensorsFile
{
    private readonly byte[] _bytes;

    private SafeTensorsFile(byte[] bytes, SafeTensorsHeader header)
    {
        _bytes = bytes;
        Header = header;
    }

    /// <summary>The checked header: tensors and metadata.</summary>
    public SafeTensorsHeader Header { get; }

    /// <summary>The file's path (or the name it was given).</summary>
    public string FilePath => Header.FilePath;

    /// <summary>Reads and checks <paramref name="path"/>.</summary>
    /// <exception cref="SafeTensorsException">The file is missing, unreadable, truncated or corrupt.</exception>
    public static SafeTensorsFile Open(string path) => Open(path, Array.MaxLength);

    // Read whole, up to the largest array .NET allocates (2 GiB) by default; a device or endless pipe is refused at the limit.
    internal static SafeTensorsFile Open(string path, long maxBytes)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var bytes = BoundedFile.ReadAllBytes(path, maxBytes, problem => new SafeTensorsException(path, null, problem + "."));
        return FromBytes(bytes, path);
    }

    /// <summary>Checks a whole file held in memory; <paramref name="filePath"/> is the name used in messages. The array is kept, not copied.</summary>
    /// <exception cref="SafeTensorsException">The bytes are not a valid file.</exception>
    public static SafeTensorsFile FromBytes(byte[] bytes, string filePath = "<memory>")
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return new SafeTensorsFile(bytes, SafeTensorsHeader.Parse(bytes, filePath));
    }

    /// <summary>The tensor named <paramref name="name"/> as float32, in the file's row-major order.</summary>
    /// <exception cref="SafeTensorsException">There is no such tensor, or its dtype is not floating point.</exception>
    public float[] ReadSingle(string name)
    {
        var info = Header.Find(name) ?? throw new SafeTensorsException(FilePath, name, "no such tensor in the file.");
        return ReadSingle(info);
    }

    /// <summary>The tensor <paramref name="info"/> (one of <see cref="SafeTensorsHeader.Tensors"/>) as float32.</summary>
    /// <exception cref="SafeTensorsException">Its dtype is not floating point.</exception>
    public float[] ReadSingle(SafeTensorInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        var values = new float[checked((int)info.ElementCount)];
        ReadSingle(_bytes, Header, info, values);
        return values;
    }

    /// <summary>Converts one tensor of a checked file held in memory into <paramref name="destination"/> (its element count long).</summary>
    /// <exception cref="SafeTensorsException">Its dtype is not floating point.</exception>
    public static void ReadSingle(ReadOnlySpan<byte> file, SafeTensorsHeader header, SafeTensorInfo info, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(info);
        if (!info.DType.IsReadAsFloat())
            throw new SafeTensorsException(header.FilePath, info.Name, $"its dtype {info.DType} is not read as floating point; expected F32, F16, BF16 or F64.");
        var count = checked((int)info.ElementCount);
        if (destination.Length != count)
            throw new ArgumentException($"The destination holds {destination.Length} values; tensor '{info.Name}' has {count}.", nameof(destination));
        var bytes = file.Slice(checked((int)(header.DataOffset + info.Begin)), checked((int)(info.End - info.Begin)));
        switch (info.DType)
        {
            case SafeTensorsDType.Float32 when BitConverter.IsLittleEndian:
                MemoryMarshal.Cast<byte, float>(bytes).CopyTo(destination);
                break;
            case SafeTensorsDType.Float16 when BitConverter.IsLittleEndian:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), destination);
                break;
            case SafeTensorsDType.Float32:
                for (var i = 0; i < count; i++) destination[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]);
                break;
            case SafeTensorsDType.Float16:
                for (var i = 0; i < count; i++) destination[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(2 * i)..]);
                break;
            case SafeTensorsDType.BFloat16:
                // bfloat16 is the upper 16 bits of a float32.
                for (var i = 0; i < count; i++) destination[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]) << 16);
                break;
            default:
                for (var i = 0; i < count; i++) destination[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(bytes[(8 * i)..]);
                break;
        }
    }
}
