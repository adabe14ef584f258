using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Generate;

/// <summary>NumPy's .npy format, version 1.0, for float32 tensors: <c>numpy.load</c> reads the file as an array of the tensor's shape.</summary>
internal static class Npy
{
    public static byte[] Float32(ReadOnlySpan<float> values, TensorShape shape)
    {
        if (values.Length != shape.Length) throw new ArgumentException($"{values.Length} values do not match {shape}.", nameof(values));
        return Float32(values, [shape.Batch, shape.Channels, shape.Height, shape.Width]);
    }

    /// <summary>A float32 array of any rank (at least 1).</summary>
    public static byte[] Float32(ReadOnlySpan<float> values, IReadOnlyList<int> shape)
    {
        if (shape.Count == 0 || values.Length != shape.Aggregate(1L, (p, d) => p * d))
            throw new ArgumentException($"{values.Length} values do not match the shape [{string.Join(", ", shape)}].", nameof(values));
        // Python writes a one-element tuple as (n,).
        var dims = shape.Count == 1 ? $"{shape[0]}," : string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture)));
        var dictionary = string.Create(CultureInfo.InvariantCulture, $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
        // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in '\\n'.
        var unpadded = 10 + dictionary.Length + 1;
        var header = dictionary + new string(' ', (64 - unpadded % 64) % 64) + "\n";
        var bytes = new byte[10 + header.Length + values.Length * sizeof(float)];
        ReadOnlySpan<byte> magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];
        magic.CopyTo(bytes);
        bytes[6] = 1;
        bytes[7] = 0;
        BitConverter.TryWriteBytes(bytes.AsSpan(8, 2), (ushort)header.Length);
        Encoding.ASCII.GetBytes(header, bytes.AsSpan(10));
        var data = MemoryMarshal.AsBytes(values);
        if (BitConverter.IsLittleEndian) data.CopyTo(bytes.AsSpan(10 + header.Length));
        else throw new PlatformNotSupportedException("Writing .npy files is implemented for little-endian machines.");
        return bytes;
    }
}
