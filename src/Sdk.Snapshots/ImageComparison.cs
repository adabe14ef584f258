using StbImageSharp;
using StbImageWriteSharp;

namespace Diffusion.Sdk.Snapshots;

/// <summary>A decoded image: width, height, channels per pixel, and the channel values row by row.</summary>
/// <param name="Width">Pixels per row.</param>
/// <param name="Height">Rows.</param>
/// <param name="Channels">Channel values per pixel (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA).</param>
/// <param name="Data">Width·Height·Channels bytes.</param>
public sealed record DecodedImage(int Width, int Height, int Channels, byte[] Data)
{
    /// <summary>Decodes a PNG (or any format stb_image reads) in its own channel count.</summary>
    /// <exception cref="InvalidDataException">The bytes are not an image.</exception>
    public static DecodedImage Decode(byte[] encoded)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        try
        {
            var image = ImageResult.FromMemory(encoded, StbImageSharp.ColorComponents.Default);
            return new DecodedImage(image.Width, image.Height, (int)image.SourceComp, image.Data);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"Not a readable image ({encoded.Length} bytes): {e.Message}", e);
        }
    }
}

/// <summary>The pixel-by-pixel difference between an actual and an approved image.</summary>
/// <param name="SameSize">Whether width, height and channel count agree (if not, nothing else is compared).</param>
/// <param name="MaxDifference">The largest channel difference.</param>
/// <param name="DifferingValues">How many channel values differ at all.</param>
/// <param name="TotalValues">How many channel values were compared.</param>
public sealed record ImageDifference(bool SameSize, int MaxDifference, long DifferingValues, long TotalValues)
{
    /// <summary>The fraction of channel values that differ.</summary>
    public double DifferingFraction => TotalValues == 0 ? 0 : (double)DifferingValues / TotalValues;

    /// <summary>Whether the difference is within <paramref name="tolerance"/>.</summary>
    public bool IsWithin(ImageTolerance tolerance)
    {
        ArgumentNullException.ThrowIfNull(tolerance);
        return SameSize && (DifferingValues == 0 ||
            (!tolerance.IsExact && MaxDifference <= tolerance.MaxChannelDifference && DifferingFraction <= tolerance.MaxDifferingFraction));
    }

    /// <summary>Compares two decoded images channel value by channel value.</summary>
    public static ImageDifference Between(DecodedImage actual, DecodedImage approved)
    {
        ArgumentNullException.ThrowIfNull(actual);
        ArgumentNullException.ThrowIfNull(approved);
        if (actual.Width != approved.Width || actual.Height != approved.Height || actual.Channels != approved.Channels)
            return new ImageDifference(false, 255, actual.Data.Length, actual.Data.Length);
        var max = 0;
        long differing = 0;
        for (var i = 0; i < actual.Data.Length; i++)
        {
            var d = Math.Abs(actual.Data[i] - approved.Data[i]);
            if (d == 0) continue;
            differing++;
            max = Math.Max(max, d);
        }
        return new ImageDifference(true, max, differing, actual.Data.Length);
    }

    /// <inheritdoc/>
    public override string ToString() => SameSize
        ? $"{DifferingValues} of {TotalValues} channel values differ ({DifferingFraction:P2}), by up to {MaxDifference}"
        : "the sizes or channel counts differ";

    /// <summary>
    /// An RGB PNG of the difference, the size of the approved image: unchanged pixels in dim grey (a third of the
    /// approved brightness), changed ones in red, brighter the larger the change.
    /// </summary>
    public static byte[] DiffPng(DecodedImage actual, DecodedImage approved)
    {
        ArgumentNullException.ThrowIfNull(actual);
        ArgumentNullException.ThrowIfNull(approved);
        var rgb = new byte[approved.Width * approved.Height * 3];
        var same = actual.Width == approved.Width && actual.Height == approved.Height && actual.Channels == approved.Channels;
        for (var p = 0; p < approved.Width * approved.Height; p++)
        {
            int worst = 0, brightness = 0;
            for (var c = 0; c < approved.Channels; c++)
            {
                var i = p * approved.Channels + c;
                brightness = Math.Max(brightness, approved.Data[i]);
                worst = same ? Math.Max(worst, Math.Abs(actual.Data[i] - approved.Data[i])) : 255;
            }
            if (worst == 0)
                rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = (byte)(brightness / 3);
            else
                rgb[3 * p] = (byte)Math.Min(255, 128 + 32 * worst);
        }
        using var stream = new MemoryStream();
        new ImageWriter().WritePng(rgb, approved.Width, approved.Height, StbImageWriteSharp.ColorComponents.RedGreenBlue, stream);
        return stream.ToArray();
    }
}
