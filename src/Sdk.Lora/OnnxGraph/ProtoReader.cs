using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Lora.OnnxGraph;

/// <summary>
/// Reads protocol-buffer wire format from a span, bounds-checked: varints, fixed-width values and length-delimited
/// fields, each field's absolute position in the file kept so that large payloads (raw tensor data) can be skipped
/// now and read later by offset. Only what the ONNX graph reader needs; groups (wire types 3 and 4, unused by ONNX)
/// are rejected.
/// </summary>
internal ref struct ProtoReader
{
    public const int Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5;

    private readonly ReadOnlySpan<byte> _data;
    private readonly long _origin;
    private readonly string _file;
    private int _position;

    /// <param name="data">The message's bytes.</param>
    /// <param name="origin">Where <paramref name="data"/> starts in the file.</param>
    /// <param name="file">The file, for messages.</param>
    public ProtoReader(ReadOnlySpan<byte> data, long origin, string file)
    {
        _data = data;
        _origin = origin;
        _file = file;
        _position = 0;
    }

    /// <summary>Whether every byte of the message has been read.</summary>
    public readonly bool AtEnd => _position >= _data.Length;

    /// <summary>Moves to the next field; false at the end of the message.</summary>
    public bool Next(out int field, out int wireType)
    {
        if (_position >= _data.Length)
        {
            field = wireType = 0;
            return false;
        }
        var tag = ReadVarint();
        field = (int)Math.Min(tag >> 3, int.MaxValue);
        wireType = (int)(tag & 7);
        if (field == 0) throw Corrupt("a field number 0");
        return true;
    }

    public ulong ReadVarint()
    {
        ulong result = 0;
        for (var shift = 0; shift < 70; shift += 7)
        {
            if (_position >= _data.Length) throw Corrupt("a number that runs past the end of its message");
            var b = _data[_position++];
            if (shift < 64) result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return result;
        }
        throw Corrupt("a number longer than 10 bytes");
    }

    public long ReadInt64() => (long)ReadVarint();

    /// <summary>A length-delimited field: its bytes, and where they start in the file.</summary>
    public ReadOnlySpan<byte> ReadBytes(out long fileOffset)
    {
        var length = ReadVarint();
        if (length > (ulong)(_data.Length - _position)) throw Corrupt($"a field of {length} bytes that runs past the end of its message");
        fileOffset = _origin + _position;
        var bytes = _data.Slice(_position, (int)length);
        _position += (int)length;
        return bytes;
    }

    /// <summary>A length-delimited field read as a nested message.</summary>
    public ProtoReader ReadMessage()
    {
        var bytes = ReadBytes(out var offset);
        return new ProtoReader(bytes, offset, _file);
    }

    public string ReadString() => System.Text.Encoding.UTF8.GetString(ReadBytes(out _));

    public uint ReadFixed32()
    {
        if (_data.Length - _position < 4) throw Corrupt("a 4-byte value that runs past the end of its message");
        var value = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(_data[_position..]);
        _position += 4;
        return value;
    }

    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case Varint: ReadVarint(); break;
            case Fixed64: Advance(8); break;
            case LengthDelimited: ReadBytes(out _); break;
            case Fixed32: Advance(4); break;
            default: throw Corrupt($"wire type {wireType}, which ONNX files do not use");
        }
    }

    private void Advance(int count)
    {
        if (_data.Length - _position < count) throw Corrupt("a value that runs past the end of its message");
        _position += count;
    }

    public readonly ModelLoadException Corrupt(string what) =>
        new($"{_file} is not a readable ONNX model: it has {what} (at byte {_origin + _position}). The file is truncated or corrupt.");
}
