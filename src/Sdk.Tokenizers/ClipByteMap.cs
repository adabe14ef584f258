using Diffusion.Sdk.Abstractions;
namespace Diffusion.Sdk.Tokenizers;

/// <summary>
/// GPT-2's and CLIP's <c>bytes_to_unicode</c>: each of the 256 byte values stands for one printable character, so
/// that BPE runs on text. Printable Latin-1 bytes ('!'–'~', '¡'–'¬', '®'–'ÿ') stand for themselves; the other 68 take
/// U+0100, U+0101, … in byte order.
/// </summary>
internal static class ClipByteMap
{
    /// <summary>The character each byte value stands for, indexed by byte.</summary>
    public static readonly char[] ByteToChar = Build();

    /// <summary>The 256 single-character strings, in byte order.</summary>
    public static readonly string[] Symbols = Array.ConvertAll(ByteToChar, c => c.ToString());

    private static char[] Build()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }
}
