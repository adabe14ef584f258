namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// SDXL's <c>time_ids</c> rows, built as the reference's <c>_get_add_time_ids</c> and the pipelines' calls build
/// them, quirks included (the SDK follows the reference on purpose; docs/text-to-image.md lists them):
/// <list type="bullet">
/// <item>text to image under guidance: <c>cat([neg, pos]).repeat(B·n, 1)</c>, so the rows alternate negative,
/// positive, … while the embeddings are all negatives then all positives; the negative row uses the negative sizes
/// only when both negative sizes are given;</item>
/// <item>image to image: all negative rows, then all positive rows; for a base UNet the negative row takes the
/// positive crops.</item>
/// </list>
/// </summary>
internal static class SdxlTimeIds
{
    /// <summary>Columns of a base UNet's time ids: original size, crop, target size.</summary>
    public const int SizeColumns = 6;

    /// <summary>Columns of a refiner-style UNet's: original size, crop, aesthetic score.</summary>
    public const int AestheticColumns = 5;

    /// <summary>The rows for one run, in the UNet batch's order (unconditional rows first under guidance).</summary>
    /// <param name="conditioning">The request's values; null: the defaults.</param>
    /// <param name="height">The image height in pixels.</param>
    /// <param name="width">The image width in pixels.</param>
    /// <param name="aesthetic">A refiner-style UNet (5 columns) rather than a base one (6).</param>
    /// <param name="imageToImage">The image-to-image pipeline's rules rather than text to image's.</param>
    /// <param name="items">Images in the batch (B·n).</param>
    /// <param name="guided">Classifier-free guidance: 2·items rows.</param>
    public static float[] Build(MicroConditioning? conditioning, int height, int width, bool aesthetic, bool imageToImage, int items, bool guided)
    {
        var c = conditioning ?? new MicroConditioning();
        var size = new PixelSize(height, width);
        var original = c.OriginalSize ?? size;
        var crop = c.CropsCoordsTopLeft ?? default;
        var target = c.TargetSize ?? size;
        float[] positive, negative;
        if (!imageToImage)
        {
            positive = Sizes(original, crop, target);
            negative = c is { NegativeOriginalSize: { } no, NegativeTargetSize: { } nt }
                ? Sizes(no, c.NegativeCropsCoordsTopLeft ?? default, nt)
                : positive;
        }
        else if (aesthetic)
        {
            positive = Aesthetic(original, crop, c.AestheticScore);
            negative = Aesthetic(c.NegativeOriginalSize ?? original, c.NegativeCropsCoordsTopLeft ?? default, c.NegativeAestheticScore);
        }
        else
        {
            positive = Sizes(original, crop, target);
            negative = Sizes(c.NegativeOriginalSize ?? original, crop, c.NegativeTargetSize ?? target);
        }

        var columns = positive.Length;
        var rows = guided ? 2 * items : items;
        var ids = new float[rows * columns];
        for (var r = 0; r < rows; r++)
        {
            var negativeRow = guided && (imageToImage ? r < items : r % 2 == 0);
            (negativeRow ? negative : positive).CopyTo(ids, r * columns);
        }
        return ids;
    }

    private static float[] Sizes(PixelSize original, CropOffset crop, PixelSize target) =>
        [original.Height, original.Width, crop.Top, crop.Left, target.Height, target.Width];

    private static float[] Aesthetic(PixelSize original, CropOffset crop, double score) =>
        [original.Height, original.Width, crop.Top, crop.Left, (float)score];
}
