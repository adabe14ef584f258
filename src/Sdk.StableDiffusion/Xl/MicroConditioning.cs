using System.Globalization;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>A size in pixels, height first, as SDXL's micro-conditioning takes it.</summary>
/// <param name="Height">Pixels down.</param>
/// <param name="Width">Pixels across.</param>
public readonly record struct PixelSize(int Height, int Width)
{
    /// <summary>"H,W".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Height},{Width}");
}

/// <summary>The top-left corner of a crop in pixels, top first, as SDXL's <c>crops_coords_top_left</c>.</summary>
/// <param name="Top">Pixels from the top edge.</param>
/// <param name="Left">Pixels from the left edge.</param>
public readonly record struct CropOffset(int Top, int Left)
{
    /// <summary>"TOP,LEFT".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Top},{Left}");
}

/// <summary>
/// SDXL's micro-conditioning (the UNet's <c>time_ids</c>), with the names and defaults of diffusers'
/// <c>StableDiffusionXLPipeline</c> / <c>StableDiffusionXLImg2ImgPipeline</c> arguments. Null sizes default to the
/// image's size, null crops to (0, 0). A base UNet (6 time ids) reads the sizes and crops; a refiner-style UNet (5,
/// <c>requires_aesthetics_score</c>) reads the original size, the crops and the aesthetic scores.
/// </summary>
public sealed record MicroConditioning
{
    /// <summary><c>original_size</c>: the size the training image had before resizing; null: the image's size.</summary>
    public PixelSize? OriginalSize { get; init; }

    /// <summary><c>crops_coords_top_left</c>: where the training crop started; null: (0, 0).</summary>
    public CropOffset? CropsCoordsTopLeft { get; init; }

    /// <summary><c>target_size</c>; null: the image's size.</summary>
    public PixelSize? TargetSize { get; init; }

    /// <summary>
    /// <c>negative_original_size</c>, for the unconditional rows. Text to image uses the negative sizes only when both
    /// this and <see cref="NegativeTargetSize"/> are set (else the negative rows repeat the positive ones), as the
    /// reference does; image to image defaults each to its positive counterpart.
    /// </summary>
    public PixelSize? NegativeOriginalSize { get; init; }

    /// <summary>
    /// <c>negative_crops_coords_top_left</c>; null: (0, 0). The reference's image-to-image pipeline ignores it for a
    /// base UNet (its negative row takes the positive crops), and so does the SDK.
    /// </summary>
    public CropOffset? NegativeCropsCoordsTopLeft { get; init; }

    /// <summary><c>negative_target_size</c> (see <see cref="NegativeOriginalSize"/>).</summary>
    public PixelSize? NegativeTargetSize { get; init; }

    /// <summary><c>aesthetic_score</c> of a refiner-style UNet (5 time ids): 6.0 by default.</summary>
    public double AestheticScore { get; init; } = 6.0;

    /// <summary><c>negative_aesthetic_score</c> of a refiner-style UNet: 2.5 by default.</summary>
    public double NegativeAestheticScore { get; init; } = 2.5;

    /// <summary>Checks the values: sizes positive, crops not negative, scores finite.</summary>
    /// <exception cref="SamplingOptionException">A value is out of range; the exception names it.</exception>
    public void Validate()
    {
        static void Size(PixelSize? s, string name)
        {
            if (s is { } v && (v.Height < 1 || v.Width < 1))
                throw new SamplingOptionException(name, v.ToString(), "a height and width of at least 1 pixel (height first)");
        }
        static void Crop(CropOffset? c, string name)
        {
            if (c is { } v && (v.Top < 0 || v.Left < 0))
                throw new SamplingOptionException(name, v.ToString(), "a top and left offset of at least 0 pixels (top first)");
        }
        static void Score(double s, string name)
        {
            if (!double.IsFinite(s)) throw new SamplingOptionException(name, s.ToString("R", CultureInfo.InvariantCulture), "a finite number");
        }
        Size(OriginalSize, nameof(OriginalSize));
        Size(TargetSize, nameof(TargetSize));
        Size(NegativeOriginalSize, nameof(NegativeOriginalSize));
        Size(NegativeTargetSize, nameof(NegativeTargetSize));
        Crop(CropsCoordsTopLeft, nameof(CropsCoordsTopLeft));
        Crop(NegativeCropsCoordsTopLeft, nameof(NegativeCropsCoordsTopLeft));
        Score(AestheticScore, nameof(AestheticScore));
        Score(NegativeAestheticScore, nameof(NegativeAestheticScore));
    }
}
