using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
namespace Diffusion.Benchmarks.Quality;

/// <summary>
/// Sliced Wasserstein-1 distance between two point sets in ℝ^d: the mean, over a fixed set of random unit
/// directions θ, of the one-dimensional Wasserstein-1 distance between the projections ⟨x, θ⟩ of the two sets
/// (for equal sizes n, ∫|F⁻¹ − G⁻¹| = (1/n)·Σ|a_(i) − b_(i)| of the sorted projections). The directions are drawn once
/// from a seed, so every distance of a run is the same statistic and distances are comparable with each other.
/// </summary>
public sealed class SlicedWasserstein
{
    private readonly float[][] _directions;
    private readonly int _dimension;

    /// <summary>Draws <paramref name="directions"/> unit vectors in ℝ^<paramref name="dimension"/> from <paramref name="seed"/>.</summary>
    public SlicedWasserstein(int dimension, int directions, int seed)
    {
        _dimension = dimension;
        var random = new Random(seed);
        _directions = new float[directions][];
        for (var k = 0; k < directions; k++)
        {
            var v = new double[dimension];
            double norm;
            do
            {
                for (var i = 0; i < dimension; i++) v[i] = Gaussian(random);
                norm = Math.Sqrt(v.Sum(x => x * x));
            } while (norm < 1e-12);
            _directions[k] = v.Select(x => (float)(x / norm)).ToArray();
        }
    }

    /// <summary>Number of directions.</summary>
    public int Directions => _directions.Length;

    /// <summary>The sorted projections of a point set (n points of <c>dimension</c> values, point after point), one array per direction.</summary>
    public double[][] Project(ReadOnlySpan<float> points)
    {
        if (points.Length % _dimension != 0) throw new ArgumentException($"{points.Length} values are not whole points of dimension {_dimension}.", nameof(points));
        var n = points.Length / _dimension;
        var copy = points.ToArray();
        var result = new double[_directions.Length][];
        Parallel.For(0, _directions.Length, k =>
        {
            var theta = _directions[k];
            var projection = new double[n];
            for (var p = 0; p < n; p++)
            {
                double dot = 0;
                for (var i = 0; i < theta.Length; i++) dot += copy[p * _dimension + i] * (double)theta[i];
                projection[p] = dot;
            }
            Array.Sort(projection);
            result[k] = projection;
        });
        return result;
    }

    /// <summary>The distance between two projected sets of equal size.</summary>
    public static double Distance(double[][] a, double[][] b)
    {
        if (a.Length != b.Length) throw new ArgumentException("The two sets were projected on different directions.");
        double total = 0;
        for (var k = 0; k < a.Length; k++)
        {
            if (a[k].Length != b[k].Length) throw new ArgumentException($"Equal sample sizes are needed ({a[k].Length} and {b[k].Length}).");
            double sum = 0;
            for (var i = 0; i < a[k].Length; i++) sum += Math.Abs(a[k][i] - b[k][i]);
            total += sum / a[k].Length;
        }
        return total / a.Length;
    }

    private static double Gaussian(Random random)
    {
        // Box–Muller; the directions only need to be uniform on the sphere.
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
