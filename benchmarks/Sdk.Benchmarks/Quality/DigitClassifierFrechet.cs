namespace Diffusion.Benchmarks.Quality;

/// <summary>
/// The Fréchet distance of generated digits to the real ones. Kept apart from <see cref="DigitClassifier"/> so that the
/// classifier itself needs only ONNX Runtime (the tests compile it in without the linear-algebra package).
/// </summary>
public static class DigitClassifierFrechet
{
    /// <summary>The Fréchet distance of <paramref name="features"/> to the real digits.</summary>
    public static double FrechetToReal(this DigitClassifier classifier, ReadOnlySpan<float> features)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        var dimension = DigitClassifier.FeatureDimension;
        var (mean, covariance) = FrechetDistance.Statistics(features, features.Length / dimension, dimension);
        return FrechetDistance.Compute(mean, covariance, classifier.RealMean, classifier.RealCovariance);
    }
}
