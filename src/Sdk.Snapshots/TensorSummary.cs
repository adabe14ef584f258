using System.Security.Cryptography;
using System.Runtime.InteropServices;

namespace Diffusion.Sdk.Snapshots;

/// <summary>
/// What a tensor snapshot records of a float array: its length, the SHA-256 of its little-endian float bits, and its
/// minimum, maximum, mean and (population) standard deviation, summed in a fixed order in double so that the
/// statistics themselves are the same on every machine for the same values.
/// </summary>
/// <param name="Length">Number of elements.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the float bits.</param>
/// <param name="Min">Smallest element.</param>
/// <param name="Max">Largest element.</param>
/// <param name="Mean">Mean.</param>
/// <param name="Std">Population standard deviation.</param>
public sealed record TensorSummary(int Length, string Sha256, double Min, double Max, double Mean, double Std)
{
    /// <summary>Summarises <paramref name="values"/>.</summary>
    public static TensorSummary Of(ReadOnlySpan<float> values)
    {
        var bytes = MemoryMarshal.AsBytes(values);
        var hash = BitConverter.IsLittleEndian ? SHA256.HashData(bytes) : SHA256.HashData(LittleEndian(values));
        double min = double.PositiveInfinity, max = double.NegativeInfinity, sum = 0;
        foreach (var v in values)
        {
            sum += v;
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        var mean = values.IsEmpty ? 0 : sum / values.Length;
        double squares = 0;
        foreach (var v in values) squares += (v - mean) * (v - mean);
        var std = values.IsEmpty ? 0 : Math.Sqrt(squares / values.Length);
        return new TensorSummary(values.Length, Convert.ToHexStringLower(hash), values.IsEmpty ? 0 : min, values.IsEmpty ? 0 : max, mean, std);
    }

    private static byte[] LittleEndian(ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * sizeof(float)];
        for (var i = 0; i < values.Length; i++)
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), values[i]);
        return bytes;
    }
}
