using Diffusion.Configuration;

namespace Diffusion.Tests.Support;

/// <summary>
/// Data x₀ ~ N(μ, s²) per element, whose denoisers are known in closed form: x_t = √ᾱ·x₀ + √(1−ᾱ)·ε is Gaussian
/// with variance V = ᾱs² + 1 − ᾱ, so E[ε | x_t] = √(1−ᾱ)(x_t − √ᾱμ)/V and E[x₀ | x_t] = μ + √ᾱ s²(x_t − √ᾱμ)/V.
/// The probability-flow ODE maps x_t to x₀ = μ + (x_t − √ᾱμ)·s/√V exactly.
/// </summary>
public sealed class GaussianData(double mean, double std)
{
    /// <summary>μ.</summary>
    public double Mean { get; } = mean;

    /// <summary>s.</summary>
    public double Std { get; } = std;

    /// <summary>Writes the exact network output of kind <paramref name="type"/> for noisy input <paramref name="x"/> at ᾱ.</summary>
    public void Predict(PredictionType type, ReadOnlySpan<float> x, double alphaBar, Span<float> output)
    {
        double a = Math.Sqrt(alphaBar), sigma = Math.Sqrt(1 - alphaBar), v = alphaBar * Std * Std + 1 - alphaBar;
        for (var i = 0; i < x.Length; i++)
        {
            var centred = x[i] - a * Mean;
            var eps = sigma * centred / v;
            var x0 = Mean + a * Std * Std * centred / v;
            output[i] = (float)(type switch
            {
                PredictionType.Epsilon => eps,
                PredictionType.Sample => x0,
                PredictionType.VPrediction => a * eps - sigma * x0,
                _ => throw new ArgumentOutOfRangeException(nameof(type)),
            });
        }
    }

    /// <summary>The exact probability-flow endpoint for a variance-preserving sample <paramref name="x"/> at ᾱ.</summary>
    public double ExactEndpoint(double x, double alphaBar) =>
        Mean + (x - Math.Sqrt(alphaBar) * Mean) * Std / Math.Sqrt(alphaBar * Std * Std + 1 - alphaBar);
}
