using Diffusion.Sdk.Abstractions;

namespace Diffusion.Benchmarks.Quality;

/// <summary>
/// What the tiny text-to-image model's captions describe, measured on a generated picture by the same rules that
/// labelled its training digits (<c>tools/tiny-sd/captions.py</c>): the 28×28 digit is the centre of the 32×32 RGB
/// image, grey = the channels' mean; ink p ∈ [0, 1] per pixel.
/// </summary>
public static class DigitMeasures
{
    /// <summary>Side of the digit the classifier reads.</summary>
    public const int Side = 28;

    /// <summary>
    /// The digit in item <paramref name="index"/> of [0, 1] RGB images (<see cref="Sdk.StableDiffusion.StableDiffusionResult.Images"/>):
    /// the centre 28×28 of the channels' mean, mapped to the classifier's [−1, 1] (−1 = background).
    /// </summary>
    public static float[] ToDigit(ReadOnlySpan<float> images, TensorShape shape, int index)
    {
        if (shape.Channels != 3 || shape.Height < Side || shape.Width < Side)
            throw new ArgumentException($"Expected RGB images of at least {Side}×{Side}, got {shape}.", nameof(shape));
        var item = images.Slice(index * shape.ItemLength, shape.ItemLength);
        var plane = shape.Height * shape.Width;
        int top = (shape.Height - Side) / 2, left = (shape.Width - Side) / 2;
        var digit = new float[Side * Side];
        for (var y = 0; y < Side; y++)
            for (var x = 0; x < Side; x++)
            {
                var p = (top + y) * shape.Width + left + x;
                var grey = (item[p] + item[plane + p] + item[2 * plane + p]) / 3f;
                digit[y * Side + x] = 2f * Math.Clamp(grey, 0f, 1f) - 1f;
            }
        return digit;
    }

    /// <summary>Ink mass: the sum of p = (x + 1) / 2 over the digit (the "bold"/"thin" measure).</summary>
    public static double InkMass(ReadOnlySpan<float> digit)
    {
        var mass = 0.0;
        foreach (var v in digit) mass += Ink(v);
        return mass;
    }

    /// <summary>
    /// Slant: −cov(x, y) / var(y) with the ink as weights, x to the right and y downwards, so positive when the top
    /// leans right (the "leaning left"/"leaning right" measure); 0 for an empty picture.
    /// </summary>
    public static double Slant(ReadOnlySpan<float> digit)
    {
        double mass = 0, mx = 0, my = 0;
        for (var i = 0; i < digit.Length; i++)
        {
            var p = Ink(digit[i]);
            mass += p;
            mx += p * (i % Side);
            my += p * (i / Side);
        }
        if (mass <= 0) return 0;
        mx /= mass;
        my /= mass;
        double covXy = 0, varY = 0;
        for (var i = 0; i < digit.Length; i++)
        {
            var p = Ink(digit[i]);
            double dx = i % Side - mx, dy = i / Side - my;
            covXy += p * dx * dy;
            varY += p * dy * dy;
        }
        return varY > 0 ? -covXy / varY : 0;
    }

    private static double Ink(float v) => Math.Clamp((v + 1.0) / 2.0, 0.0, 1.0);
}
