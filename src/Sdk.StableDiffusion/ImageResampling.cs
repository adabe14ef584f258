using System.Runtime.InteropServices;
using SkiaSharp;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// Resizes start pictures and masks whose size differs from the request, with SkiaSharp (Google's Skia), where the
/// reference's image processor calls PIL's <c>Image.resize(size, LANCZOS)</c>.
/// </summary>
/// <remarks>
/// <para>
/// The filter: enlarging (neither side shrinks), Skia's Catmull–Rom cubic (B = 0, C = ½), the cubic closest to PIL's
/// three-lobed Lanczos; shrinking, Skia's trilinear filter over mipmaps, which low-passes the picture before sampling
/// as PIL's Lanczos widens its kernel by the scale does. Neither is PIL's kernel: on smooth regions the results agree to
/// a level or two of 255, and near sharp edges and fine texture they differ by more (Lanczos rings, and keeps more of
/// the detail when shrinking). A mask's levels move the same way before it is binarized at 128, so a mask edge can move
/// by a pixel where a resized level lands near 128. For results identical to the reference, give pictures of the
/// requested size: they are never resampled.
/// </para>
/// <para>Each channel is resized independently; pixels are opaque 8-bit RGB (no colour-space conversion).</para>
/// </remarks>
public static class ImageResampling
{
    /// <summary>Resizes 8-bit RGB pixels (HWC) from <paramref name="width"/>×<paramref name="height"/> to <paramref name="newWidth"/>×<paramref name="newHeight"/>.</summary>
    /// <exception cref="ArgumentException">The pixels do not match the size, or a size is not positive.</exception>
    public static byte[] Resize(ReadOnlySpan<byte> rgb, int width, int height, int newWidth, int newHeight)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(newWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(newHeight, 1);
        if (rgb.Length != width * height * 3) throw new ArgumentException($"{rgb.Length} bytes are not {width}×{height} RGB pixels.", nameof(rgb));
        if (width == newWidth && height == newHeight) return rgb.ToArray();

        using var source = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var sourceBytes = new byte[width * height * 4];
        for (var p = 0; p < width * height; p++)
        {
            sourceBytes[4 * p] = rgb[3 * p];
            sourceBytes[4 * p + 1] = rgb[3 * p + 1];
            sourceBytes[4 * p + 2] = rgb[3 * p + 2];
            sourceBytes[4 * p + 3] = 255;
        }
        Marshal.Copy(sourceBytes, 0, source.GetPixels(), sourceBytes.Length);

        using var target = new SKBitmap(new SKImageInfo(newWidth, newHeight, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var shrinks = newWidth < width || newHeight < height;
        var sampling = shrinks ? new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear) : new SKSamplingOptions(SKCubicResampler.CatmullRom);
        if (!source.ScalePixels(target, sampling))
            throw new InvalidImageException($"SkiaSharp could not resize a {width}×{height} picture to {newWidth}×{newHeight}.");

        var targetBytes = new byte[newWidth * newHeight * 4];
        Marshal.Copy(target.GetPixels(), targetBytes, 0, targetBytes.Length);
        var result = new byte[newWidth * newHeight * 3];
        for (var p = 0; p < newWidth * newHeight; p++)
        {
            result[3 * p] = targetBytes[4 * p];
            result[3 * p + 1] = targetBytes[4 * p + 1];
            result[3 * p + 2] = targetBytes[4 * p + 2];
        }
        return result;
    }
}
