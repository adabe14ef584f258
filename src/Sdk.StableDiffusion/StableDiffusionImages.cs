using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;
using SkiaSharp;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>The pixel conversions of the reference pipeline's image processor, at both ends.</summary>
public static class StableDiffusionImages
{
    /// <summary>Decodes PNG (or JPEG, BMP, WebP…) bytes to 8-bit RGB, HWC.</summary>
    /// <exception cref="InvalidImageException">The bytes are not a complete image, or it is too large (<see cref="MaxPixels"/>).</exception>
    public static (byte[] Rgb, int Width, int Height) Decode(byte[] file) => Decode(file, "start image");

    /// <summary>The most pixels a start image or mask may have (64 megapixels, e.g. 8192×8192): it is decoded whole.</summary>
    public const long MaxPixels = 64L * 1024 * 1024;

    /// <summary>The largest picture file read: an uncompressed <see cref="MaxPixels"/> RGB bitmap and then some.</summary>
    public const long MaxFileBytes = 256L << 20;

    /// <summary>Reads a start image's or a mask's file, at most <see cref="MaxFileBytes"/> (a device or an endless pipe is refused, not read until memory runs out).</summary>
    /// <param name="path">The file.</param>
    /// <param name="what">What the picture is for, named in the error (e.g. <c>--init-image</c>).</param>
    /// <param name="cancellationToken">Stops a slow read.</param>
    /// <exception cref="InvalidImageException">The file cannot be read or is larger than the limit.</exception>
    public static byte[] ReadFile(string path, string what, CancellationToken cancellationToken = default) =>
        BoundedFile.ReadAllBytes(path, MaxFileBytes, problem => new InvalidImageException($"The {what} {path}: {problem}."), cancellationToken);

    /// <summary>Decodes PNG (or JPEG, BMP, WebP, GIF…) bytes to 8-bit RGB, HWC; <paramref name="what"/> names the picture in errors.</summary>
    /// <exception cref="InvalidImageException">The bytes are not a complete image, or it has more than <see cref="MaxPixels"/> pixels.</exception>
    /// <remarks>
    /// Skia's decoders (libpng, libjpeg-turbo, the ones Chrome ships and fuzzes), not a hand-ported one: a fuzzed JPEG
    /// of 17 bytes made the previous decoder loop for minutes. The size is read from the header and checked before
    /// any pixel is decoded. No colour management is applied (the reference's PIL applies none either); grey and palette
    /// pictures become RGB with equal channels; an alpha channel is dropped, not composited (the values are read
    /// unpremultiplied), as the reference's <c>convert("RGB")</c> and <c>convert("L")</c> of a mask drop it.
    /// </remarks>
    public static (byte[] Rgb, int Width, int Height) Decode(byte[] file, string what)
    {
        ArgumentNullException.ThrowIfNull(file);
        // The codec owns the stream from here on (Skia releases it with the codec, or at once when it cannot decode).
        using var codec = SKCodec.Create(new SKMemoryStream(file), out var opened);
        if (codec is null)
            throw new InvalidImageException($"The {what} ({file.Length} bytes) could not be decoded ({opened}). Give a PNG, JPEG, BMP or WebP file.");
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        if (width <= 0 || height <= 0 || (long)width * height > MaxPixels)
            throw new InvalidImageException($"The {what} declares {width}×{height} pixels; at most {MaxPixels / (1024 * 1024)} megapixels are read. Scale it down first (it is resized to the request's size anyway).");

        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var decoded = codec.GetPixels(info, out var rgba);
        if (decoded != SKCodecResult.Success)
            throw new InvalidImageException($"The {what} ({file.Length} bytes, {width}×{height}) could not be decoded: {decoded}. The file is truncated or damaged; give a complete PNG, JPEG, BMP or WebP file.");

        var rgb = new byte[(long)width * height * 3];
        for (long p = 0; p < (long)width * height; p++)
        {
            rgb[p * 3] = rgba[p * 4];
            rgb[p * 3 + 1] = rgba[p * 4 + 1];
            rgb[p * 3 + 2] = rgba[p * 4 + 2];
        }
        return (rgb, width, height);
    }

    /// <summary>
    /// Resizes 8-bit RGB pixels (HWC) to <paramref name="newWidth"/>×<paramref name="newHeight"/>, for start pictures and
    /// masks whose size differs from the request (<see cref="ImageResampling"/> states the filter).
    /// </summary>
    public static byte[] Resize(byte[] rgb, int width, int height, int newWidth, int newHeight) =>
        ImageResampling.Resize(rgb, width, height, newWidth, newHeight);

    /// <summary>The encoder's input: uint8 / 255, then 2x − 1, HWC → [1, 3, H, W] (the reference's <c>VaeImageProcessor.preprocess</c> without resizing).</summary>
    public static float[] Preprocess(ReadOnlySpan<byte> rgb, int width, int height)
    {
        if (rgb.Length != width * height * 3) throw new ArgumentException($"{rgb.Length} bytes are not {width}×{height} RGB pixels.", nameof(rgb));
        var plane = width * height;
        var result = new float[3 * plane];
        for (var p = 0; p < plane; p++)
            for (var c = 0; c < 3; c++)
                result[c * plane + p] = 2f * (rgb[p * 3 + c] / 255f) - 1f;
        return result;
    }

    /// <summary>The decoder's output to [0, 1]: <c>(x / 2 + 0.5).clamp(0, 1)</c>, in place.</summary>
    public static void Postprocess(Span<float> pixels)
    {
        for (var i = 0; i < pixels.Length; i++) pixels[i] = Math.Clamp(pixels[i] / 2f + 0.5f, 0f, 1f);
    }

    /// <summary>
    /// The 8-bit RGB pixels (row-major, interleaved) of item <paramref name="index"/> of [0, 1] images:
    /// <c>round(x · 255)</c>, halves to even, as the reference's <c>numpy_to_pil</c>. Every output (one PNG, a grid)
    /// is made from these bytes, so a pixel has one value whatever the output.
    /// </summary>
    public static byte[] ToPixels(ReadOnlySpan<float> images, TensorShape shape, int index)
    {
        if (shape.Channels != 3) throw new ArgumentException($"Expected RGB images, got {shape.Channels} channels.", nameof(shape));
        var plane = shape.Height * shape.Width;
        var item = images.Slice(index * shape.ItemLength, shape.ItemLength);
        var pixels = new byte[shape.ItemLength];
        for (var c = 0; c < 3; c++)
            for (var p = 0; p < plane; p++)
                pixels[p * 3 + c] = (byte)MathF.Round(Math.Clamp(item[c * plane + p], 0f, 1f) * 255f, MidpointRounding.ToEven);
        return pixels;
    }

    /// <summary>PNG bytes of item <paramref name="index"/> of [0, 1] images, from <see cref="ToPixels"/>.</summary>
    public static byte[] EncodePng(ReadOnlySpan<float> images, TensorShape shape, int index) =>
        ImageEncoder.EncodePixelsPng(ToPixels(images, shape, index), shape.Width, shape.Height, 3);

    /// <summary>A grid PNG of every item of [0, 1] images, from the same <see cref="ToPixels"/> bytes as the single images.</summary>
    public static byte[] EncodeGridPng(ReadOnlySpan<float> images, TensorShape shape, int? columns = null)
    {
        var pixels = new byte[shape.Batch][];
        for (var i = 0; i < shape.Batch; i++) pixels[i] = ToPixels(images, shape, i);
        return ImageEncoder.EncodeGridPng(pixels, shape.Width, shape.Height, 3, columns);
    }
}

/// <summary>A start image could not be decoded, or does not fit the request.</summary>
public sealed class InvalidImageException(string message, Exception? innerException = null) : DiffusionException(message, innerException);

/// <summary>The requested width or height cannot be generated: not a positive multiple of the VAE factor, or not what the export is fixed to.</summary>
public sealed class ImageSizeException(string message) : DiffusionException(message);
