using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Diffusion.Sdk.Lora.SafeTensors;

/// <summary>
/// The header of a <c>.safetensors</c> file, parsed strictly and checked against the file's length: an 8-byte
/// little-endian header length N, N bytes of UTF-8 JSON (<c>__metadata__</c>: string to string; every other key a
/// tensor with <c>dtype</c>, <c>shape</c>, <c>data_offsets</c>), then the data section, which the tensors must cover
/// exactly: in order of their offsets, each starts where the previous ends, from byte 0 to the end of the file,
/// and each spans dtype size × the product of its shape bytes (computed with checked arithmetic). Anything else is
/// a <see cref="SafeTensorsException"/> naming the file and, where one is to blame, the tensor.
/// </summary>
public sealed class SafeTensorsHeader
{
    /// <summary>The largest header accepted (the format's reference implementation uses the same bound).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly Dictionary<string, SafeTensorInfo> _byName;

    private SafeTensorsHeader(string filePath, long dataOffset, List<SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        FilePath = filePath;
        DataOffset = dataOffset;
        Tensors = tensors;
        Metadata = metadata;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The file the header came from, for messages.</summary>
    public string FilePath { get; }

    /// <summary>Where the data section starts in the file: 8 + the header length.</summary>
    public long DataOffset { get; }

    /// <summary>The tensors, in the order of their data.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> strings (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensor named <paramref name="name"/>, or null.</summary>
    public SafeTensorInfo? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>
    /// Parses and checks the header of a whole <c>.safetensors</c> file held in memory. Throws only
    /// <see cref="SafeTensorsException"/>, whatever the bytes (the entry point for fuzzing).
    /// </summary>
    /// <param name="file">The file's bytes, all of them.</param>
    /// <param name="filePath">The name to put in messages.</param>
    public static SafeTensorsHeader Parse(ReadOnlySpan<byte> file, string filePath = "<memory>")
    {
        if (file.Length < 8)
            throw new SafeTensorsException(filePath, null, $"the file is {file.Length} bytes, too short for the 8-byte header length: it is truncated or not a .safetensors file.");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > (ulong)(file.Length - 8))
            throw new SafeTensorsException(filePath, null, $"the header length ({headerLength} bytes) points past the end of the file ({file.Length} bytes): the file is truncated or not a .safetensors file.");
        if (headerLength > MaxHeaderBytes)
            throw new SafeTensorsException(filePath, null, $"the header is {headerLength} bytes, more than the {MaxHeaderBytes} this reader accepts.");
        if (headerLength < 2)
            throw new SafeTensorsException(filePath, null, $"the header is {headerLength} bytes, too short for a JSON object.");
        var dataOffset = 8 + (long)headerLength;
        var dataLength = file.Length - dataOffset;

        var (tensors, metadata) = ReadJson(file.Slice(8, (int)headerLength), filePath);
        CheckLayout(tensors, dataLength, filePath);
        return new SafeTensorsHeader(filePath, dataOffset, tensors, metadata);
    }

    private static (List<SafeTensorInfo>, Dictionary<string, string>) ReadJson(ReadOnlySpan<byte> json, string filePath)
    {
        var tensors = new List<SafeTensorInfo>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        string? key = null;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false });
            Expect(ref reader, JsonTokenType.StartObject, filePath, null, "the header is not a JSON object");
            while (Read(ref reader, filePath) && reader.TokenType != JsonTokenType.EndObject)
            {
                key = reader.GetString()!;
                if (!seen.Add(key)) throw new SafeTensorsException(filePath, key, "the key appears twice in the header.");
                if (key == "__metadata__") ReadMetadata(ref reader, metadata, filePath);
                else tensors.Add(ReadTensor(ref reader, key, filePath));
                key = null;
            }
            if (reader.Read())
                throw new SafeTensorsException(filePath, null, "the header has bytes after its JSON object other than padding spaces.");
        }
        catch (JsonException e)
        {
            throw new SafeTensorsException(filePath, key, $"the header is not valid JSON (byte {e.BytePositionInLine + 1} of the header): the file is corrupt or not a .safetensors file.", e);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException or DecoderFallbackException or ArgumentException)
        {
            throw new SafeTensorsException(filePath, key, $"the header could not be read: {e.Message}", e);
        }
        return (tensors, metadata);
    }

    private static void ReadMetadata(ref Utf8JsonReader reader, Dictionary<string, string> metadata, string filePath)
    {
        Expect(ref reader, JsonTokenType.StartObject, filePath, "__metadata__", "expected an object of strings");
        while (Read(ref reader, filePath) && reader.TokenType != JsonTokenType.EndObject)
        {
            var name = reader.GetString()!;
            Expect(ref reader, JsonTokenType.String, filePath, "__metadata__", $"the value of '{name}' is not a string");
            if (!metadata.TryAdd(name, reader.GetString()!))
                throw new SafeTensorsException(filePath, "__metadata__", $"'{name}' appears twice.");
        }
    }

    private static SafeTensorInfo ReadTensor(ref Utf8JsonReader reader, string name, string filePath)
    {
        Expect(ref reader, JsonTokenType.StartObject, filePath, name, "expected an object with dtype, shape and data_offsets");
        string? dtypeName = null;
        long[]? shape = null, offsets = null;
        while (Read(ref reader, filePath) && reader.TokenType != JsonTokenType.EndObject)
        {
            var field = reader.GetString()!;
            switch (field)
            {
                case "dtype" when dtypeName is null:
                    Expect(ref reader, JsonTokenType.String, filePath, name, "'dtype' is not a string");
                    dtypeName = reader.GetString()!;
                    break;
                case "shape" when shape is null:
                    shape = ReadIntegers(ref reader, filePath, name, "shape");
                    break;
                case "data_offsets" when offsets is null:
                    offsets = ReadIntegers(ref reader, filePath, name, "data_offsets");
                    break;
                case "dtype" or "shape" or "data_offsets":
                    throw new SafeTensorsException(filePath, name, $"'{field}' appears twice.");
                default:
                    throw new SafeTensorsException(filePath, name, $"unknown field '{field}'; a tensor has dtype, shape and data_offsets.");
            }
        }
        if (dtypeName is null || shape is null || offsets is null)
            throw new SafeTensorsException(filePath, name, $"missing {string.Join(" and ", new[] { dtypeName is null ? "dtype" : null, shape is null ? "shape" : null, offsets is null ? "data_offsets" : null }.OfType<string>())}.");
        var dtype = SafeTensorsDTypes.FromName(dtypeName)
            ?? throw new SafeTensorsException(filePath, name, $"unknown dtype '{dtypeName}'; the format defines BOOL, U8, I8, F8_E4M3, F8_E5M2, I16, U16, F16, BF16, I32, U32, F32, I64, U64 and F64.");
        if (offsets.Length != 2)
            throw new SafeTensorsException(filePath, name, $"data_offsets has {offsets.Length} numbers; expected [begin, end].");
        if (offsets[1] < offsets[0])
            throw new SafeTensorsException(filePath, name, $"data_offsets [{offsets[0]}, {offsets[1]}] ends before it begins.");
        long expected;
        try
        {
            expected = dtype.Size();
            foreach (var d in shape) expected = checked(expected * d);
        }
        catch (OverflowException)
        {
            throw new SafeTensorsException(filePath, name, $"the shape [{string.Join(", ", shape)}] has more elements than a file can hold.");
        }
        if (offsets[1] - offsets[0] != expected)
            throw new SafeTensorsException(filePath, name, $"data_offsets [{offsets[0]}, {offsets[1]}] span {offsets[1] - offsets[0]} bytes, but {dtypeName} of shape [{string.Join(", ", shape)}] is {expected} bytes.");
        return new SafeTensorInfo(name, dtype, shape, offsets[0], offsets[1]);
    }

    private static long[] ReadIntegers(ref Utf8JsonReader reader, string filePath, string name, string field)
    {
        Expect(ref reader, JsonTokenType.StartArray, filePath, name, $"'{field}' is not an array of integers");
        var values = new List<long>();
        while (Read(ref reader, filePath) && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var v) || v < 0)
                throw new SafeTensorsException(filePath, name, $"'{field}' holds something other than a non-negative integer.");
            values.Add(v);
        }
        return [.. values];
    }

    private static void CheckLayout(List<SafeTensorInfo> tensors, long dataLength, string filePath)
    {
        foreach (var t in tensors)
            if (t.End > dataLength)
                throw new SafeTensorsException(filePath, t.Name, $"its data [{t.Begin}, {t.End}) points past the end of the file (the data section is {dataLength} bytes): the file is truncated.");
        tensors.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long position = 0;
        SafeTensorInfo? previous = null;
        foreach (var t in tensors)
        {
            if (t.Begin < position)
                throw new SafeTensorsException(filePath, t.Name, $"its data [{t.Begin}, {t.End}) overlaps tensor '{previous!.Name}' [{previous.Begin}, {previous.End}).");
            if (t.Begin > position)
                throw new SafeTensorsException(filePath, t.Name, $"{t.Begin - position} bytes before its data belong to no tensor: the file is corrupt.");
            position = t.End;
            previous = t;
        }
        if (position != dataLength)
            throw new SafeTensorsException(filePath, null, $"the tensors end at byte {position} of the data section, which is {dataLength} bytes: the file has bytes that belong to no tensor.");
    }

    private static bool Read(ref Utf8JsonReader reader, string filePath) =>
        reader.Read() ? true : throw new SafeTensorsException(filePath, null, "the header's JSON ends early.");

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type, string filePath, string? key, string problem)
    {
        if (!reader.Read() || reader.TokenType != type)
            throw new SafeTensorsException(filePath, key, problem + ".");
    }
}
