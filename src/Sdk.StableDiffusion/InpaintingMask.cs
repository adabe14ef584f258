using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// An inpainting mask prepared as the reference's mask processor prepares it (<c>VaeImageProcessor</c> with
/// <c>do_normalize=False, do_binarize=True, do_convert_grayscale=True</c>), and what the inpainting pipeline derives
/// from it: white (luma ≥ 128) is repainted, black is kept.
/// </summary>
/// <remarks>
/// Steps, in the reference's order: the picture is resized to the image size where it differs (in its own channels,
/// <see cref="StableDiffusionImages.Resize"/>), converted to luma as PIL's <c>convert("L")</c> does
/// (<c>(19595·R + 38470·G + 7471·B + 2^15) >> 16</c>; a grey picture keeps its levels; alpha is ignored), scaled to
/// [0, 1] and binarized at 0.5 (<see cref="Condition"/>, the reference's <c>mask_condition</c>). A grey-level mask is
/// therefore hard at full resolution before anything else. The latent mask (<see cref="Latent"/>) takes, for each
/// latent pixel (i, j), the condition at pixel (f·i, f·j) (torch's nearest interpolation to H/f × W/f: the top-left
/// pixel of each block, not its centre or its mean).
/// </remarks>
public sealed class InpaintingMask
{
    private InpaintingMask(float[] condition, int width, int height)
    {
        Condition = condition;
        Width = width;
        Height = height;
    }

    /// <summary>The binarized mask at image resolution, row after row: 1 to repaint, 0 to keep (the reference's <c>mask_condition</c>).</summary>
    public float[] Condition { get; }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>Decodes a mask picture (PNG, JPEG, BMP; grey, RGB, with or without alpha) and prepares it at <paramref name="width"/>×<paramref name="height"/>.</summary>
    /// <exception cref="InvalidImageException">The bytes are not a picture.</exception>
    public static InpaintingMask Decode(byte[] file, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(file);
        var (rgb, w, h) = StableDiffusionImages.Decode(file, "mask");
        if (w != width || h != height) rgb = StableDiffusionImages.Resize(rgb, w, h, width, height);
        return FromRgb(rgb, width, height);
    }

    /// <summary>Prepares a mask from 8-bit RGB pixels (HWC) of the image's size.</summary>
    public static InpaintingMask FromRgb(ReadOnlySpan<byte> rgb, int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (rgb.Length != width * height * 3) throw new ArgumentException($"{rgb.Length} bytes are not {width}×{height} RGB pixels.", nameof(rgb));
        var condition = new float[width * height];
        for (var p = 0; p < condition.Length; p++)
        {
            // PIL's ITU-R 601-2 luma in 16-bit fixed point, rounded; then u8 / 255 ≥ 0.5, i.e. luma ≥ 128.
            var luma = (rgb[3 * p] * 19595 + rgb[3 * p + 1] * 38470 + rgb[3 * p + 2] * 7471 + 0x8000) >> 16;
            condition[p] = luma / 255f >= 0.5f ? 1f : 0f;
        }
        return new InpaintingMask(condition, width, height);
    }

    /// <summary>Whether any pixel is repainted.</summary>
    public bool RepaintsAnything => Array.IndexOf(Condition, 1f) >= 0;

    /// <summary>
    /// The masked image: the preprocessed picture (NCHW in [−1, 1], one item) times <c>condition &lt; 0.5</c>, so that the
    /// repainted pixels become 0 (mid-grey) and the kept ones stay, as the reference's <c>init_image · (mask &lt; 0.5)</c>.
    /// </summary>
    public float[] MaskImage(ReadOnlySpan<float> pixels)
    {
        var plane = Width * Height;
        if (pixels.Length % plane != 0) throw new ArgumentException($"{pixels.Length} values are not whole {Width}×{Height} planes.", nameof(pixels));
        var masked = pixels.ToArray();
        for (var offset = 0; offset < masked.Length; offset += plane)
            for (var p = 0; p < plane; p++)
                if (!(Condition[p] < 0.5f)) masked[offset + p] *= 0f;
        return masked;
    }

    /// <summary>The mask at latent resolution (<paramref name="factor"/> pixels per latent): [H/f, W/f], nearest, from each block's top-left pixel.</summary>
    public float[] Latent(int factor)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(factor, 1);
        if (Width % factor != 0 || Height % factor != 0)
            throw new ArgumentException($"A {Width}×{Height} mask does not divide into {factor}×{factor} blocks.", nameof(factor));
        int w = Width / factor, h = Height / factor;
        var latent = new float[w * h];
        for (var i = 0; i < h; i++)
            for (var j = 0; j < w; j++)
                latent[i * w + j] = Condition[i * factor * Width + j * factor];
        return latent;
    }
}
