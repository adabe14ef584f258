using System.IO.Compression;
using System.Buffers.Binary;
using Diffusion.Sdk.StableDiffusion;

namespace Diffusion.Sdk.Tests.StableDiffusion;

/// <summary>
/// Start images and masks as the SDK decodes them: the stored pixels of every PNG colour type exactly (grey and
/// palette as equal channels, alpha dropped, not composited), and a typed refusal, before any pixel is decoded, of
/// pictures that are damaged, truncated or too large.
/// </summary>
[TestFixture]
public sealed class StartImageDecodingTests
{
    // A PNG written here, byte by byte (no encoder in between): the test knows every stored value.
    private static byte[] Png(int width, int height, byte colorType, byte[] scanlinePixels, int bytesPerPixel, byte[]? palette = null)
    {
        using var output = new MemoryStream();
        output.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; header[9] = colorType;
        Chunk(output, "IHDR", header);
        if (palette is not null) Chunk(output, "PLTE", palette);
        using var raw = new MemoryStream();
        for (var y = 0; y < height; y++)
        {
            raw.WriteByte(0); // no filter
            raw.Write(scanlinePixels, y * width * bytesPerPixel, width * bytesPerPixel);
        }
        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true)) z.Write(raw.ToArray());
        Chunk(output, "IDAT", compressed.ToArray());
        Chunk(output, "IEND", []);
        return output.ToArray();
    }

    private static void Chunk(Stream output, string type, byte[] data)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        output.Write(length);
        var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        output.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(length, Crc32(typed));
        output.Write(length);
    }

    // PNG's CRC-32 (ISO 3309, reflected polynomial 0xEDB88320).
    private static uint Crc32(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }

    private static byte[] Values(int count, int seed) => Enumerable.Range(0, count).Select(i => (byte)((i * 37 + seed * 101) % 256)).ToArray();

    [Test]
    public void RgbIsReadAsStored()
    {
        var pixels = Values(5 * 3 * 3, 1);
        var (rgb, w, h) = StableDiffusionImages.Decode(Png(5, 3, 2, pixels, 3));
        Assert.That((w, h), Is.EqualTo((5, 3)));
        Assert.That(rgb, Is.EqualTo(pixels));
    }

    [Test]
    public void AlphaIsDroppedNotComposited()
    {
        var rgba = Values(4 * 2 * 4, 2);
        for (var p = 0; p < 8; p++) rgba[p * 4 + 3] = (byte)(p * 30); // transparent to nearly opaque
        var (rgb, _, _) = StableDiffusionImages.Decode(Png(4, 2, 6, rgba, 4));
        var expected = Enumerable.Range(0, 8).SelectMany(p => new[] { rgba[p * 4], rgba[p * 4 + 1], rgba[p * 4 + 2] }).ToArray();
        Assert.That(rgb, Is.EqualTo(expected));
    }

    [Test]
    public void GreyAndPaletteBecomeEqualOrLookedUpChannels()
    {
        var grey = Values(6 * 2, 3);
        var (fromGrey, _, _) = StableDiffusionImages.Decode(Png(6, 2, 0, grey, 1));
        Assert.That(fromGrey, Is.EqualTo(grey.SelectMany(v => new[] { v, v, v }).ToArray()));

        var palette = Values(4 * 3, 4);
        var indices = new byte[] { 0, 1, 2, 3, 3, 2, 1, 0 };
        var (fromPalette, _, _) = StableDiffusionImages.Decode(Png(4, 2, 3, indices, 1, palette));
        Assert.That(fromPalette, Is.EqualTo(indices.SelectMany(i => palette.Skip(i * 3).Take(3)).ToArray()));
    }

    [Test]
    public void APictureDeclaringTooManyPixelsIsRefusedFromItsHeader()
    {
        // 20000×20000 declared, a few bytes of data: refused before a gigabyte of pixels is allocated.
        var png = Png(1, 1, 2, [0, 0, 0], 3);
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), 20000);
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), 20000);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(29), Crc32(png[12..29]));
        var error = Assert.Throws<InvalidImageException>(() => StableDiffusionImages.Decode(png))!;
        Assert.That(error.Message, Does.Contain("20000×20000").And.Contain("megapixels"));
    }

    [Test]
    public void ATruncatedPictureIsATypedErrorNotAPartialImage()
    {
        var png = Png(16, 16, 2, Values(16 * 16 * 3, 5), 3);
        // Cut inside the signature, the header, and the compressed pixels (a cut past the pixels, in IEND, leaves a complete picture).
        foreach (var length in new[] { 8, 30, png.Length / 2, png.Length - 40 })
            Assert.Throws<InvalidImageException>(() => StableDiffusionImages.Decode(png[..length]), $"{length} of {png.Length} bytes");
    }

    [TestCase(new byte[0])]
    [TestCase(new byte[] { 1, 2, 3 })]
    [TestCase(new byte[] { 0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x32, 0x32, 0x32, 0x00, 0xE5, 0x10, 0x01, 0x03, 0x11 })] // the fuzzer's 17-byte JPEG
    public void NonImagesAreTypedErrors(byte[] bytes) =>
        Assert.Throws<InvalidImageException>(() => StableDiffusionImages.Decode(bytes));
}
