using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using MathNet.Numerics.LinearAlgebra;

namespace Diffusion.Benchmarks.Quality;

/// <summary>
/// The Fréchet distance between two Gaussians fitted to feature sets (the FID formula):
/// d = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2·(Σ₁^½ Σ₂ Σ₁^½)^½). As in the Python evaluator of the embedded models
/// (<c>tools/digits-model/common.py</c>), Σ₁^½ comes from the symmetric eigendecomposition of Σ₁ (negative
/// eigenvalues of round-off clipped to 0) and tr(·)^½ is the sum of the square roots of the eigenvalues of the
/// symmetric matrix Σ₁^½ Σ₂ Σ₁^½, so no non-symmetric matrix square root is needed.
/// </summary>
public static class FrechetDistance
{
    /// <summary>The distance between (μ₁, Σ₁) and (μ₂, Σ₂).</summary>
    public static double Compute(double[] mean1, double[,] covariance1, double[] mean2, double[,] covariance2)
    {
        var d = mean1.Length;
        if (mean2.Length != d || covariance1.GetLength(0) != d || covariance2.GetLength(0) != d)
            throw new ArgumentException("The means and covariances must have the same dimension.");
        var m = Matrix<double>.Build;
        var c1 = m.DenseOfArray(covariance1);
        var c2 = m.DenseOfArray(covariance2);

        double meanTerm = 0;
        for (var i = 0; i < d; i++) meanTerm += (mean1[i] - mean2[i]) * (mean1[i] - mean2[i]);

        var sqrt1 = SymmetricSquareRoot(c1);
        var inner = sqrt1 * c2 * sqrt1;
        inner = (inner + inner.Transpose()) * 0.5; // symmetric up to round-off
        var eigenvalues = inner.Evd(Symmetricity.Symmetric).EigenValues;
        double traceSqrt = 0;
        foreach (var e in eigenvalues) traceSqrt += Math.Sqrt(Math.Max(e.Real, 0));

        return meanTerm + c1.Trace() + c2.Trace() - 2 * traceSqrt;
    }

    /// <summary>Mean and covariance (n − 1 normalisation, as numpy's <c>cov</c>) of <paramref name="count"/> feature rows.</summary>
    public static (double[] Mean, double[,] Covariance) Statistics(ReadOnlySpan<float> features, int count, int dimension)
    {
        if (features.Length != count * dimension) throw new ArgumentException($"{features.Length} values are not {count} rows of {dimension}.");
        if (count < 2) throw new ArgumentException("A covariance needs at least two rows.");
        var mean = new double[dimension];
        for (var r = 0; r < count; r++)
            for (var i = 0; i < dimension; i++) mean[i] += features[r * dimension + i];
        for (var i = 0; i < dimension; i++) mean[i] /= count;
        var covariance = new double[dimension, dimension];
        var centred = new double[dimension];
        for (var r = 0; r < count; r++)
        {
            for (var i = 0; i < dimension; i++) centred[i] = features[r * dimension + i] - mean[i];
            for (var i = 0; i < dimension; i++)
                for (var j = i; j < dimension; j++) covariance[i, j] += centred[i] * centred[j];
        }
        for (var i = 0; i < dimension; i++)
            for (var j = i; j < dimension; j++) covariance[j, i] = covariance[i, j] /= count - 1;
        return (mean, covariance);
    }

    private static Matrix<double> SymmetricSquareRoot(Matrix<double> a)
    {
        var evd = a.Evd(Symmetricity.Symmetric);
        var v = evd.EigenVectors;
        var roots = Vector<double>.Build.Dense(a.RowCount, i => Math.Sqrt(Math.Max(evd.EigenValues[i].Real, 0)));
        return v * Matrix<double>.Build.DiagonalOfDiagonalVector(roots) * v.Transpose();
    }
}
