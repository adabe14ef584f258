using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using StbImageWriteSharp;

namespace Diffusion.Sdk.Pipeline;

/// <summary>
/// Turns pixel-space samples into 8-bit images and PNG files: values in [−1, 1] map to 0–255 (clamped, rounded to
/// nearest), 1 channel → grey, 3 → RGB, 4 → RGBA. Files are written atomically: a temporary file in the same
/// folder, then a rename, so a failed run never leaves a partial image behind. Output bytes depend only on the input.
/// </summary>
public static class ImageEncoder
{
    /// <summary>The 8-bit pixels of item <paramref name="index"/>, interleaved (HWC).</summary>
    public static byte[] ToPixels(ReadOnlySpan<float> samples, TensorShape shape, int index)
    {
        var components = Components(shape);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, shape.Batch);
        if (samples.Length != shape.Length) throw new ArgumentException($"{samples.Length} values do not match the shape {shape}.", nameof(samples));
        var plane = shape.Height * shape.Width;
        var item = samples.Slice(index * shape.ItemLength, shape.ItemLength);
        var pixels = new byte[shape.ItemLength];
        for (var c = 0; c < (int)components; c++)
            for (var p = 0; p < plane; p++)
                pixels[p * (int)components + c] = ToByte(item[c * plane + p]);
        return pixels;
    }

    /// <summary>PNG bytes of item <paramref name="index"/>.</summary>
    public static byte[] EncodePng(ReadOnlySpan<float> samples, TensorShape shape, int index) =>
        Png(ToPixels(samples, shape, index), shape.Width, shape.Height, Components(shape));

    /// <summary>
    /// PNG bytes of a grid of every item: <paramref name="columns"/> per row (default: the smallest square that fits),
    /// separated by <paramref name="padding"/> black pixels.
    /// </summary>
    public static byte[] EncodeGridPng(ReadOnlySpan<float> samples, TensorShape shape, int? columns = null, int padding = 2)
    {
        var components = (int)Components(shape);
        var cols = columns ?? (int)Math.Ceiling(Math.Sqrt(shape.Batch));
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1, nameof(columns));
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        GridSize(shape, cols, padding); // refused before any pixel is converted
        var pixels = new byte[shape.Batch][];
        for (var b = 0; b < shape.Batch; b++) pixels[b] = ToPixels(samples, shape, b);
        return EncodeGridPng(pixels, shape.Width, shape.Height, components, cols, padding);
    }

    /// <summary>
    /// A grid PNG of images given as 8-bit pixels (row-major, channels interleaved), <paramref name="columns"/> per row
    /// (default: about square), separated by <paramref name="padding"/> black pixels: the same bytes as each image's
    /// own PNG, placed side by side.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The grid would be too large for one image.</exception>
    public static byte[] EncodeGridPng(IReadOnlyList<byte[]> images, int width, int height, int channels, int? columns = null, int padding = 2)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (channels is not (1 or 3 or 4)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "1, 3 or 4 channels.");
        var cols = columns ?? (int)Math.Ceiling(Math.Sqrt(images.Count));
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1, nameof(columns));
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        var (gridWidth, gridHeight) = GridSize(new TensorShape(images.Count, channels, height, width), cols, padding);
        var grid = new byte[checked(gridWidth * gridHeight * channels)];
        for (var b = 0; b < images.Count; b++)
        {
            var pixels = images[b];
            if (pixels.Length != width * height * channels)
                throw new ArgumentException($"Image {b} has {pixels.Length} bytes; {width}×{height} pixels of {channels} channels need {width * height * channels}.", nameof(images));
            var left = padding + (b % cols) * (width + padding);
            var top = padding + (b / cols) * (height + padding);
            for (var y = 0; y < height; y++)
                Array.Copy(pixels, y * width * channels, grid, ((top + y) * gridWidth + left) * channels, width * channels);
        }
        return Png(grid, gridWidth, gridHeight, (ColorComponents)channels);
    }

    /// <summary>PNG bytes of 8-bit pixels, interleaved (HWC) with 1 (grey), 3 (RGB) or 4 (RGBA) channels.</summary>
    public static byte[] EncodePixelsPng(byte[] pixels, int width, int height, int channels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (channels is not (1 or 3 or 4)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "1, 3 or 4 channels.");
        if (width < 1 || height < 1 || pixels.Length != width * height * channels)
            throw new ArgumentException($"{pixels.Length} bytes are not {width}×{height} pixels of {channels} channels.", nameof(pixels));
        return Png(pixels, width, height, (ColorComponents)channels);
    }

    /// <summary>
    /// The pixel width and height of a grid of <paramref name="shape"/>'s items, <paramref name="columns"/> per row
    /// (empty cells stay black), computed without overflow.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The grid would not fit in one image (PNG and .NET arrays cap its size).</exception>
    public static (int Width, int Height) GridSize(TensorShape shape, int columns, int padding = 2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        long cols = columns;
        var rows = (shape.Batch + cols - 1) / cols;
        var width = cols * shape.Width + (cols + 1) * padding;
        var height = rows * shape.Height + (rows + 1) * padding;
        var components = Math.Max(shape.Channels, 1);
        if (width > MaxGridSide || height > MaxGridSide || width * height * components > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(columns), columns,
                $"A grid of {shape.Batch} images in {cols} columns would be {width}×{height} pixels; a grid image holds at most {MaxGridSide} pixels a side and {Array.MaxLength} bytes. Use fewer images or write them one per file.");
        return ((int)width, (int)height);
    }

    // Far beyond any useful grid and well inside what the PNG writer's int arithmetic handles.
    private const long MaxGridSide = 1 << 16;

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically (temporary file, then rename), creating the folder.</summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> bytes)
    {
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        // A short temporary name, so that any target name the file system accepts works (names cap at 255).
        var temp = Path.Combine(folder, $".{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
                stream.Write(bytes);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    private static byte ToByte(float v)
    {
        // [−1, 1] → [0, 255]; NaN maps to 0 rather than failing a whole grid.
        var scaled = (Math.Clamp(v, -1f, 1f) + 1f) * 127.5f;
        return float.IsNaN(scaled) ? (byte)0 : (byte)MathF.Round(scaled, MidpointRounding.AwayFromZero);
    }

    private static ColorComponents Components(TensorShape shape) => shape.Channels switch
    {
        1 => ColorComponents.Grey,
        3 => ColorComponents.RedGreenBlue,
        4 => ColorComponents.RedGreenBlueAlpha,
        _ => throw new ArgumentException($"Samples with {shape.Channels} channels are not images (1, 3 or 4 channels); decode latents to pixels first.", nameof(shape)),
    };

    private static byte[] Png(byte[] pixels, int width, int height, ColorComponents components)
    {
        using var stream = new MemoryStream();
        new ImageWriter().WritePng(pixels, width, height, components, stream);
        return stream.ToArray();
    }
}
