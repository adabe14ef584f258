using Diffusion.Sdk.Abstractions;

namespace Diffusion.Benchmarks.Quality;

/// <summary>The pictures of one prompt template (ten digits × seeds) and what was measured on them.</summary>
public sealed class TinySdSet
{
    private readonly float[] _images;

    /// <summary>Measures <paramref name="digits"/> (28×28 each, [−1, 1]) against the prompted <paramref name="labels"/>.</summary>
    public TinySdSet(int[] labels, int[] classes, float[] digits, float[] images, TensorShape imageShape)
    {
        Labels = labels;
        Classes = classes;
        _images = images;
        GridShape = imageShape;
        var n = DigitMeasures.Side * DigitMeasures.Side;
        Mass = Enumerable.Range(0, labels.Length).Select(i => DigitMeasures.InkMass(digits.AsSpan(i * n, n))).ToArray();
        Slant = Enumerable.Range(0, labels.Length).Select(i => DigitMeasures.Slant(digits.AsSpan(i * n, n))).ToArray();
    }

    /// <summary>The prompted digits.</summary>
    public int[] Labels { get; }

    /// <summary>What the classifier read.</summary>
    public int[] Classes { get; }

    /// <summary>Ink mass per picture.</summary>
    public double[] Mass { get; }

    /// <summary>Slant per picture.</summary>
    public double[] Slant { get; }

    /// <summary>Shape of the pictures as a batch, for the grid.</summary>
    public TensorShape GridShape { get; }

    /// <summary>Pictures.</summary>
    public int Count => Labels.Length;

    /// <summary>Pictures the classifier read as the prompted digit.</summary>
    public int Correct => Labels.Zip(Classes).Count(p => p.First == p.Second);

    /// <summary>The share read as the prompted digit.</summary>
    public double Accuracy => (double)Correct / Count;

    /// <summary>Accuracy per prompted digit 0…9.</summary>
    public double[] PerDigit => Enumerable.Range(0, 10).Select(d =>
        (double)Labels.Zip(Classes).Count(p => p.First == d && p.Second == d) / Math.Max(1, Labels.Count(l => l == d))).ToArray();

    /// <summary>Mean ink mass.</summary>
    public double MeanMass => Mass.Average();

    /// <summary>Mean slant.</summary>
    public double MeanSlant => Slant.Average();

    /// <summary>The share of pictures whose top leans right (slant &gt; 0).</summary>
    public double RightLeaning => Slant.Count(s => s > 0) / (double)Count;

    /// <summary>The pictures mapped to [−1, 1] for <c>ImageEncoder</c>.</summary>
    public float[] GridPixels() => Array.ConvertAll(_images, v => 2f * v - 1f);

    /// <summary>The share of same-seed pairs for which <paramref name="holds"/>(a, b).</summary>
    public static double Share(double[] a, double[] b, Func<double, double, bool> holds) =>
        a.Zip(b).Count(p => holds(p.First, p.Second)) / (double)a.Length;
}
