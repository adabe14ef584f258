using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace Diffusion.Sdk.Tests.Lora;

/// <summary>Writes small .safetensors files for tests: valid ones, and, through <see cref="Raw"/>, any header and data.</summary>
public static class SafeTensorsWriter
{
    public sealed record Tensor(string Name, float[] Values, long[] Shape, string DType = "F32");

    /// <summary>A valid file: the tensors in name order, contiguous, header padded to a multiple of 8.</summary>
    public static byte[] Build(IEnumerable<Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is not null)
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        var data = new MemoryStream();
        foreach (var t in tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            var begin = data.Length;
            foreach (var v in t.Values) data.Write(Encode(v, t.DType));
            header[t.Name] = new JsonObject
            {
                ["dtype"] = t.DType,
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(begin, data.Length),
            };
        }
        return Raw(header.ToJsonString(), data.ToArray());
    }

    /// <summary>The 8-byte length, <paramref name="headerJson"/> padded with spaces to a multiple of 8, then <paramref name="data"/>.</summary>
    public static byte[] Raw(string headerJson, byte[] data, ulong? declaredLength = null)
    {
        var json = Encoding.UTF8.GetBytes(headerJson);
        var padded = (json.Length + 7) / 8 * 8;
        var bytes = new byte[8 + padded + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)padded);
        json.CopyTo(bytes, 8);
        bytes.AsSpan(8 + json.Length, padded - json.Length).Fill((byte)' ');
        data.CopyTo(bytes, 8 + padded);
        return bytes;
    }

    public static string Write(string folder, string name, byte[] bytes)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] Encode(float v, string dtype)
    {
        switch (dtype)
        {
            case "F16":
                var h = new byte[2];
                BinaryPrimitives.WriteHalfLittleEndian(h, (Half)v);
                return h;
            case "BF16":
                var b = new byte[2];
                BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16));
                return b;
            case "F64":
                var d = new byte[8];
                BinaryPrimitives.WriteDoubleLittleEndian(d, v);
                return d;
            default:
                var f = new byte[4];
                BinaryPrimitives.WriteSingleLittleEndian(f, v);
                return f;
        }
    }
}
