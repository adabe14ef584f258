using System.Text;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Onnx;

/// <summary>
/// Reads what the ONNX Runtime session does not tell: the channel counts a graph fixes only in its weights. The legacy
/// diffusers export leaves the sample's channel dimension symbolic (<c>channels</c>) for every UNet, inpainting ones
/// (9 channels) included, and neither its <c>model_index.json</c> nor its input signature says which it is; the first
/// convolution's weight does (<c>conv_in.weight</c>, [out, in / group, kh, kw]).
/// </summary>
/// <remarks>
/// A streaming reader of the ONNX protobuf (<c>ModelProto.graph</c>: its nodes and its initializers' names and
/// dimensions). Tensor contents are skipped, not read, so a multi-gigabyte file with inline weights costs a few seeks;
/// weights kept as external data are never opened.
/// </remarks>
internal sealed class OnnxGraphShapes
{
    // Element-wise operators that keep the channel count between the sample input and the first convolution.
    private static readonly HashSet<string> PassThrough = new(StringComparer.Ordinal) { "Cast", "Identity", "Mul", "Div", "Add", "Sub" };

    private readonly List<Node> _nodes = [];
    private readonly Dictionary<string, long[]> _initializers = new(StringComparer.Ordinal);

    private sealed record Node(string OpType, List<string> Inputs, List<string> Outputs, long Group, long Stride);

    private OnnxGraphShapes() { }

    /// <summary>Reads the graph of <paramref name="file"/>.</summary>
    /// <exception cref="ModelLoadException">The file is not a readable ONNX protobuf.</exception>
    public static OnnxGraphShapes Read(string file)
    {
        var shapes = new OnnxGraphShapes();
        try
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            var reader = new ProtoReader(stream);
            while (reader.Next(stream.Length, out var field, out var wire))
            {
                if (field == 7 && wire == 2) shapes.ReadGraph(reader, reader.LengthEnd());
                else reader.Skip(wire);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or EndOfStreamException)
        {
            throw new ModelLoadException($"{file}: the ONNX graph could not be read to find its channel counts: {e.Message}", e);
        }
        return shapes;
    }

    /// <summary>Reads the graph of <paramref name="file"/>, or returns null (with a warning) when it cannot be read.</summary>
    public static OnnxGraphShapes? TryRead(string file, Microsoft.Extensions.Logging.ILogger logger)
    {
        try
        {
            return Read(file);
        }
        catch (ModelLoadException e)
        {
            Microsoft.Extensions.Logging.LoggerExtensions.LogWarning(logger, "{Message}", e.Message);
            return null;
        }
    }

    /// <summary>
    /// The channels the first convolution reads from <paramref name="input"/> (through casts and element-wise scalings),
    /// or null when no convolution with a known weight shape reads it.
    /// </summary>
    public int? InputChannels(string input)
    {
        var frontier = new List<string> { input };
        for (var hop = 0; hop < 4 && frontier.Count > 0; hop++)
        {
            var next = new List<string>();
            foreach (var node in _nodes)
            {
                if (node.Inputs.Count == 0 || !frontier.Contains(node.Inputs[0])) continue;
                if (node.OpType == "Conv" && node.Inputs.Count > 1 && _initializers.TryGetValue(node.Inputs[1], out var w) && w.Length == 4)
                    return checked((int)(w[1] * node.Group));
                if (PassThrough.Contains(node.OpType)) next.AddRange(node.Outputs);
            }
            frontier = next;
        }
        return null;
    }

    /// <summary>The channels of the convolution that writes <paramref name="output"/>, or null when another operator writes it.</summary>
    public int? OutputChannels(string output)
    {
        foreach (var node in _nodes)
            if (node.Outputs.Contains(output))
                return node.OpType == "Conv" && node.Inputs.Count > 1 && _initializers.TryGetValue(node.Inputs[1], out var w) && w.Length == 4
                    ? checked((int)w[0]) : null;
        return null;
    }

    /// <summary>
    /// How much the convolutions shrink the image: the product of the strides of every strided convolution (a UNet's
    /// downsamplers; 1 when there are none). A UNet export joins each downsampled map with its upsampled twin, so its
    /// sample's sides must be multiples of this.
    /// </summary>
    public long ConvolutionDownsampling()
    {
        long factor = 1;
        foreach (var node in _nodes)
            if (node.OpType == "Conv" && node.Stride > 1 && factor < 1 << 20) factor *= node.Stride;
        return factor;
    }

    /// <summary>The dimensions of initializer <paramref name="name"/>, or null.</summary>
    public IReadOnlyList<long>? InitializerShape(string name) => _initializers.TryGetValue(name, out var d) ? d : null;

    /// <summary>The dimensions of the one initializer whose name ends with <paramref name="suffix"/>, or null (none, or several).</summary>
    public IReadOnlyList<long>? InitializerShapeEndingWith(string suffix)
    {
        var found = _initializers.Where(kv => kv.Key.EndsWith(suffix, StringComparison.Ordinal)).Take(2).ToList();
        return found.Count == 1 ? found[0].Value : null;
    }

    // GraphProto: node = 1, initializer = 5.
    private void ReadGraph(ProtoReader reader, long end)
    {
        while (reader.Next(end, out var field, out var wire))
        {
            if (field == 1 && wire == 2) _nodes.Add(ReadNode(reader, reader.LengthEnd()));
            else if (field == 5 && wire == 2) ReadInitializer(reader, reader.LengthEnd());
            else reader.Skip(wire);
        }
    }

    // NodeProto: input = 1, output = 2, op_type = 4, attribute = 5 (only Conv's integer "group" and the largest of its "strides" are kept).
    private static Node ReadNode(ProtoReader reader, long end)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        var op = "";
        long group = 1, stride = 1;
        while (reader.Next(end, out var field, out var wire))
        {
            if (field == 1 && wire == 2) inputs.Add(reader.String());
            else if (field == 2 && wire == 2) outputs.Add(reader.String());
            else if (field == 4 && wire == 2) op = reader.String();
            else if (field == 5 && wire == 2)
            {
                var (name, value, largest) = ReadAttribute(reader, reader.LengthEnd());
                if (name == "group" && value is { } g) group = g;
                else if (name == "strides" && largest is { } s) stride = s;
            }
            else reader.Skip(wire);
        }
        return new Node(op, inputs, outputs, group, stride);
    }

    // AttributeProto: name = 1, i = 3, ints = 8 (packed or not; only the largest is kept).
    private static (string? Name, long? Value, long? LargestOfInts) ReadAttribute(ProtoReader reader, long end)
    {
        string? name = null;
        long? value = null, largest = null;
        while (reader.Next(end, out var field, out var wire))
        {
            if (field == 1 && wire == 2) name = reader.String();
            else if (field == 3 && wire == 0) value = (long)reader.Varint();
            else if (field == 8 && wire == 0) largest = Math.Max(largest ?? long.MinValue, (long)reader.Varint());
            else if (field == 8 && wire == 2)
            {
                var packedEnd = reader.LengthEnd();
                while (reader.Position < packedEnd) largest = Math.Max(largest ?? long.MinValue, (long)reader.Varint());
            }
            else reader.Skip(wire);
        }
        return (name, value, largest);
    }

    // TensorProto: dims = 1 (packed or not), name = 8; the data fields are skipped.
    private void ReadInitializer(ProtoReader reader, long end)
    {
        var dims = new List<long>();
        string? name = null;
        while (reader.Next(end, out var field, out var wire))
        {
            if (field == 1 && wire == 0) dims.Add((long)reader.Varint());
            else if (field == 1 && wire == 2)
            {
                var packedEnd = reader.LengthEnd();
                while (reader.Position < packedEnd) dims.Add((long)reader.Varint());
            }
            else if (field == 8 && wire == 2) name = reader.String();
            else reader.Skip(wire);
        }
        if (name is not null) _initializers[name] = [.. dims];
    }

    /// <summary>The few protobuf wire-format reads the graph walk needs, over a seekable stream.</summary>
    private sealed class ProtoReader(Stream stream)
    {
        public long Position => stream.Position;

        /// <summary>Reads the next field's tag, or returns false at <paramref name="end"/>.</summary>
        public bool Next(long end, out int field, out int wire)
        {
            if (stream.Position >= end)
            {
                field = wire = 0;
                return false;
            }
            var tag = Varint();
            field = (int)(tag >> 3);
            wire = (int)(tag & 7);
            return true;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                var b = stream.ReadByte();
                if (b < 0) throw new EndOfStreamException("The file ends inside a number.");
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) return value;
            }
            throw new InvalidDataException("A protobuf varint is longer than 10 bytes.");
        }

        /// <summary>Reads a length prefix and returns where the field ends.</summary>
        public long LengthEnd()
        {
            var length = Varint();
            var end = stream.Position + (long)length;
            if (length > long.MaxValue / 2 || end > stream.Length) throw new InvalidDataException("A protobuf field runs past the end of the file.");
            return end;
        }

        public string String()
        {
            var end = LengthEnd();
            var bytes = new byte[end - stream.Position];
            stream.ReadExactly(bytes);
            return Encoding.UTF8.GetString(bytes);
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: stream.Seek(8, SeekOrigin.Current); break;
                case 2: stream.Seek(LengthEnd(), SeekOrigin.Begin); break;
                case 5: stream.Seek(4, SeekOrigin.Current); break;
                default: throw new InvalidDataException($"Protobuf wire type {wire} is not used by ONNX files.");
            }
        }
    }
}
