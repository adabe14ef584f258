using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Lora.OnnxGraph;

/// <summary>
/// The nodes and initializers of an ONNX model's main graph, read straight from the protobuf without loading the
/// weights: the file is memory-mapped and tensor payloads are only located (offset and length), so reading the
/// graph of a 2 GB model touches little more than its node list. Subgraphs (If/Loop bodies) are not read.
/// </summary>
internal sealed class OnnxModelGraph
{
    private OnnxModelGraph(string file, List<OnnxNode> nodes, Dictionary<string, OnnxInitializer> initializers)
    {
        File = file;
        Nodes = nodes;
        Initializers = initializers;
        var consumers = new Dictionary<string, int>(StringComparer.Ordinal);
        var producers = new Dictionary<string, OnnxNode>(StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            foreach (var input in node.Inputs.Distinct())
                if (input.Length > 0) consumers[input] = consumers.GetValueOrDefault(input) + 1;
            foreach (var output in node.Outputs)
                if (output.Length > 0) producers[output] = node;
        }
        Consumers = consumers;
        Producers = producers;
    }

    /// <summary>The model file.</summary>
    public string File { get; }

    /// <summary>The main graph's nodes, in file order.</summary>
    public IReadOnlyList<OnnxNode> Nodes { get; }

    /// <summary>The initializers by name.</summary>
    public IReadOnlyDictionary<string, OnnxInitializer> Initializers { get; }

    /// <summary>How many nodes read each value.</summary>
    public IReadOnlyDictionary<string, int> Consumers { get; }

    /// <summary>The node that writes each value.</summary>
    public IReadOnlyDictionary<string, OnnxNode> Producers { get; }

    /// <summary>Reads the graph of <paramref name="modelFile"/>.</summary>
    /// <exception cref="ModelLoadException">The file is missing, unreadable, or not a valid ONNX protobuf.</exception>
    public static unsafe OnnxModelGraph Read(string modelFile)
    {
        if (!System.IO.File.Exists(modelFile)) throw new ModelLoadException($"{modelFile} does not exist.");
        long length;
        try
        {
            length = new FileInfo(modelFile).Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ModelLoadException($"{modelFile} could not be read: {e.Message}", e);
        }
        if (length == 0) throw new ModelLoadException($"{modelFile} is empty; expected an ONNX model.");
        if (length > int.MaxValue) throw new ModelLoadException($"{modelFile} is {length} bytes; an ONNX protobuf is at most 2 GB (larger weights go into external data).");
        try
        {
            using var map = MemoryMappedFile.CreateFromFile(modelFile, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            using var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            try
            {
                return Parse(new ReadOnlySpan<byte>(pointer + view.PointerOffset, (int)length), modelFile);
            }
            finally
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelLoadException($"{modelFile} could not be read: {e.Message}", e);
        }
    }

    /// <summary>Parses a model held in memory; <paramref name="modelFile"/> names it and locates external data.</summary>
    public static OnnxModelGraph Parse(ReadOnlySpan<byte> model, string modelFile)
    {
        var nodes = new List<OnnxNode>();
        var initializers = new Dictionary<string, OnnxInitializer>(StringComparer.Ordinal);
        var folder = Path.GetDirectoryName(Path.GetFullPath(modelFile))!;
        var reader = new ProtoReader(model, 0, modelFile);
        var sawGraph = false;
        while (reader.Next(out var field, out var wire))
        {
            if (field == 7 && wire == ProtoReader.LengthDelimited)
            {
                sawGraph = true;
                var graph = reader.ReadMessage();
                while (graph.Next(out var f, out var w))
                {
                    if (f == 1 && w == ProtoReader.LengthDelimited) nodes.Add(ReadNode(graph.ReadMessage()));
                    else if (f == 5 && w == ProtoReader.LengthDelimited)
                    {
                        var initializer = ReadTensor(graph.ReadMessage(), modelFile, folder);
                        if (!initializers.TryAdd(initializer.Name, initializer))
                            throw graph.Corrupt($"two initializers named '{initializer.Name}'");
                    }
                    else graph.Skip(w);
                }
            }
            else reader.Skip(wire);
        }
        if (!sawGraph) throw new ModelLoadException($"{modelFile} is not an ONNX model: it has no graph.");
        return new OnnxModelGraph(modelFile, nodes, initializers);
    }

    private static OnnxNode ReadNode(ProtoReader reader)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        string name = "", op = "";
        var ints = new Dictionary<string, long>(StringComparer.Ordinal);
        var lists = new Dictionary<string, long[]>(StringComparer.Ordinal);
        while (reader.Next(out var field, out var wire))
        {
            switch (field)
            {
                case 1 when wire == ProtoReader.LengthDelimited: inputs.Add(reader.ReadString()); break;
                case 2 when wire == ProtoReader.LengthDelimited: outputs.Add(reader.ReadString()); break;
                case 3 when wire == ProtoReader.LengthDelimited: name = reader.ReadString(); break;
                case 4 when wire == ProtoReader.LengthDelimited: op = reader.ReadString(); break;
                case 5 when wire == ProtoReader.LengthDelimited: ReadAttribute(reader.ReadMessage(), ints, lists); break;
                default: reader.Skip(wire); break;
            }
        }
        return new OnnxNode(name, op, inputs, outputs, ints, lists);
    }

    private static void ReadAttribute(ProtoReader reader, Dictionary<string, long> ints, Dictionary<string, long[]> lists)
    {
        string? name = null;
        long? value = null;
        var list = new List<long>();
        while (reader.Next(out var field, out var wire))
        {
            if (field == 1 && wire == ProtoReader.LengthDelimited) name = reader.ReadString();
            else if (field == 3 && wire == ProtoReader.Varint) value = reader.ReadInt64();
            else if (field == 8 && wire == ProtoReader.Varint) list.Add(reader.ReadInt64());
            else if (field == 8 && wire == ProtoReader.LengthDelimited)
            {
                var packed = reader.ReadMessage();
                while (!packed.AtEnd) list.Add(packed.ReadInt64());
            }
            else reader.Skip(wire);
        }
        if (name is null) return;
        if (value is { } v) ints[name] = v;
        if (list.Count > 0) lists[name] = [.. list];
    }

    private static OnnxInitializer ReadTensor(ProtoReader reader, string modelFile, string folder)
    {
        var dims = new List<long>();
        var name = "";
        var dataType = 0;
        long offset = 0, length = 0;
        var encoding = OnnxDataEncoding.None;
        List<float>? loose = null;
        var external = new Dictionary<string, string>(StringComparer.Ordinal);
        var location = 0L;
        while (reader.Next(out var field, out var wire))
        {
            switch (field)
            {
                case 1 when wire == ProtoReader.Varint: dims.Add(reader.ReadInt64()); break;
                case 1 when wire == ProtoReader.LengthDelimited:
                    var packedDims = reader.ReadMessage();
                    while (!packedDims.AtEnd) dims.Add(packedDims.ReadInt64());
                    break;
                case 2 when wire == ProtoReader.Varint: dataType = (int)reader.ReadVarint(); break;
                case 4 when wire == ProtoReader.LengthDelimited:
                    length = reader.ReadBytes(out offset).Length;
                    encoding = OnnxDataEncoding.PackedFloats;
                    break;
                case 4 when wire == ProtoReader.Fixed32:
                    (loose ??= []).Add(BitConverter.UInt32BitsToSingle(reader.ReadFixed32()));
                    encoding = OnnxDataEncoding.Loose;
                    break;
                case 5 when wire == ProtoReader.LengthDelimited:
                    length = reader.ReadBytes(out offset).Length;
                    encoding = OnnxDataEncoding.PackedVarints;
                    break;
                case 8 when wire == ProtoReader.LengthDelimited: name = reader.ReadString(); break;
                case 9 when wire == ProtoReader.LengthDelimited:
                    length = reader.ReadBytes(out offset).Length;
                    encoding = OnnxDataEncoding.Raw;
                    break;
                case 13 when wire == ProtoReader.LengthDelimited:
                    var entry = reader.ReadMessage();
                    string? key = null, value = null;
                    while (entry.Next(out var f, out var w))
                    {
                        if (f == 1 && w == ProtoReader.LengthDelimited) key = entry.ReadString();
                        else if (f == 2 && w == ProtoReader.LengthDelimited) value = entry.ReadString();
                        else entry.Skip(w);
                    }
                    if (key is not null && value is not null) external[key] = value;
                    break;
                case 14 when wire == ProtoReader.Varint: location = reader.ReadInt64(); break;
                default: reader.Skip(wire); break;
            }
        }
        var tensor = new OnnxInitializer(name, [.. dims], dataType) { DataFile = modelFile, DataOffset = offset, DataLength = length, Encoding = encoding, LooseFloats = loose };
        if (location != 1) return tensor;
        return tensor with
        {
            DataFile = ExternalFile(external, modelFile, folder, name),
            DataOffset = external.TryGetValue("offset", out var o) ? ParseLong(o, modelFile, name, "offset") : 0,
            DataLength = external.TryGetValue("length", out var l) ? ParseLong(l, modelFile, name, "length") : -1,
            Encoding = OnnxDataEncoding.Raw,
        };
    }

    private static string ExternalFile(Dictionary<string, string> external, string modelFile, string folder, string name)
    {
        if (!external.TryGetValue("location", out var location) || location.Length == 0)
            throw new ModelLoadException($"{modelFile}: initializer '{name}' is external data without a location.");
        // As ONNX Runtime does: the location is relative to the model's folder and may not leave it.
        var path = Path.GetFullPath(Path.Combine(folder, location));
        if (Path.IsPathRooted(location) || !path.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ModelLoadException($"{modelFile}: initializer '{name}' points at external data '{location}' outside the model's folder.");
        return path;
    }

    private static long ParseLong(string text, string modelFile, string name, string what) =>
        long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v)
            ? v : throw new ModelLoadException($"{modelFile}: initializer '{name}' has external data {what} '{text}'; expected a non-negative integer.");

    /// <summary>Reads an initializer's values as float32 (float32, float16 and bfloat16 tensors).</summary>
    /// <exception cref="ModelLoadException">Its type is not one of those, or its data is missing or of the wrong size.</exception>
    public float[] ReadSingle(OnnxInitializer tensor)
    {
        var count = tensor.ElementCount;
        if (count > Array.MaxLength) throw new ModelLoadException($"{File}: initializer '{tensor.Name}' has {count} elements, more than one array holds.");
        var values = new float[count];
        if (tensor.Encoding == OnnxDataEncoding.Loose)
        {
            if (tensor.LooseFloats!.Count != count) throw WrongSize(tensor);
            for (var i = 0; i < values.Length; i++) values[i] = tensor.LooseFloats[i];
            return values;
        }
        var elementSize = tensor.DataType switch
        {
            OnnxInitializer.Float => 4,
            OnnxInitializer.Float16 or OnnxInitializer.BFloat16 => 2,
            _ => throw new ModelLoadException($"{File}: initializer '{tensor.Name}' is {tensor.TypeName}; a LoRA merge reads float32, float16 and bfloat16 weights."),
        };
        if (tensor.Encoding == OnnxDataEncoding.None) throw new ModelLoadException($"{File}: initializer '{tensor.Name}' holds no data.");
        var length = tensor.DataLength < 0 ? count * elementSize : tensor.DataLength;
        if (tensor.Encoding != OnnxDataEncoding.PackedVarints && length != count * (tensor.Encoding == OnnxDataEncoding.PackedFloats ? 4 : elementSize))
            throw WrongSize(tensor);
        var bytes = new byte[length];
        try
        {
            using var handle = System.IO.File.OpenHandle(tensor.DataFile!, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (RandomAccess.GetLength(handle) < tensor.DataOffset + length)
                throw new ModelLoadException($"{tensor.DataFile}: the data of initializer '{tensor.Name}' ({length} bytes at {tensor.DataOffset}) runs past the end of the file: it is truncated.");
            var read = 0;
            while (read < bytes.Length)
            {
                var n = RandomAccess.Read(handle, bytes.AsSpan(read), tensor.DataOffset + read);
                if (n == 0) throw new ModelLoadException($"{tensor.DataFile}: the data of initializer '{tensor.Name}' ends early.");
                read += n;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelLoadException($"{tensor.DataFile} (data of initializer '{tensor.Name}' of {File}) could not be read: {e.Message}", e);
        }
        Decode(tensor, bytes, values);
        return values;
    }

    private void Decode(OnnxInitializer tensor, byte[] bytes, float[] values)
    {
        if (tensor.Encoding == OnnxDataEncoding.PackedVarints)
        {
            var varints = new ProtoReader(bytes, tensor.DataOffset, File);
            var i = 0;
            while (!varints.AtEnd)
            {
                if (i == values.Length) throw WrongSize(tensor);
                var bits = (ushort)varints.ReadVarint();
                values[i++] = tensor.DataType == OnnxInitializer.BFloat16 ? BitConverter.Int32BitsToSingle(bits << 16) : (float)BitConverter.UInt16BitsToHalf(bits);
            }
            if (i != values.Length) throw WrongSize(tensor);
            return;
        }
        if (tensor.Encoding == OnnxDataEncoding.PackedFloats || tensor.DataType == OnnxInitializer.Float)
        {
            if (BitConverter.IsLittleEndian) MemoryMarshal.Cast<byte, float>(bytes).CopyTo(values);
            else for (var i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(4 * i));
        }
        else if (tensor.DataType == OnnxInitializer.Float16)
        {
            if (BitConverter.IsLittleEndian) TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), values);
            else for (var i = 0; i < values.Length; i++) values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes.AsSpan(2 * i));
        }
        else
        {
            for (var i = 0; i < values.Length; i++) values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i)) << 16);
        }
    }

    private ModelLoadException WrongSize(OnnxInitializer tensor) =>
        new($"{File}: initializer '{tensor.Name}' {tensor.TypeName} {tensor.ShapeText} holds a different number of values than its shape says: the file is corrupt.");
}
