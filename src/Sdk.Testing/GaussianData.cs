using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Testing;

/// <summary>
/// Data x₀ ~ N(μ, s²) per element, whose ideal denoiser is known in closed form: x_t = √ᾱ·x₀ + √(1−ᾱ)·ε is Gaussian
/// with variance V = ᾱs² + 1 − ᾱ, so E[ε | x_t] = √(1−ᾱ)(x_t − √ᾱμ)/V and E[x₀ | x_t] = μ + √ᾱ s²(x_t − √ᾱμ)/V.
/// The probability-flow ODE maps x_t to x₀ = μ + (x_t − √ᾱμ)·s/√V exactly. Stands in for a trained network: a
/// sampler driven by it must reproduce the data (stochastic samplers) or the exact flow endpoint (deterministic ones).
/// </summary>
/// <param name="mean">μ, the mean of every element.</param>
/// <param name="std">s, the standard deviation of every element (&gt; 0).</param>
public sealed class GaussianData(double mean, double std)
{
    /// <summary>μ.</summary>
    public double Mean { get; } = mean;

    /// <summary>s.</summary>
    public double Std { get; } = std > 0 ? std : throw new ArgumentOutOfRangeException(nameof(std), std, "The standard deviation must be > 0.");

    /// <summary>
    /// Writes the exact network output of kind <paramref name="type"/> for the variance-preserving noisy input
    /// <paramref name="x"/> at noise level ᾱ = <paramref name="alphaBar"/>.
    /// </summary>
    /// <param name="type">What the network predicts: ε, x₀ or v = √ᾱ·ε − √(1−ᾱ)·x₀.</param>
    /// <param name="x">The scaled model input (what <see cref="Diffusion.Sdk.Abstractions.ISampler.ScaleModelInput"/> produced).</param>
    /// <param name="alphaBar">ᾱ of the noise level the input is at.</param>
    /// <param name="output">Receives the prediction; the same length as <paramref name="x"/>.</param>
    public void Predict(PredictionType type, ReadOnlySpan<float> x, double alphaBar, Span<float> output)
    {
        double a = Math.Sqrt(alphaBar), sigma = Math.Sqrt(1 - alphaBar), v = Variance(alphaBar);
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

    /// <summary>
    /// Writes the exact velocity v = E[ε − x₀ | x] of a flow-matching network for the flow sample
    /// <paramref name="x"/> = (1 − σ)·x₀ + σ·ε at flow σ = <paramref name="flowSigma"/>: the same posterior means, for the
    /// variance-preserving sample x/√((1 − σ)² + σ²) at ᾱ = (1 − σ)²/((1 − σ)² + σ²).
    /// </summary>
    public void PredictFlowVelocity(ReadOnlySpan<float> x, double flowSigma, Span<float> output)
    {
        double alphaBar = NoiseLevels.FlowAlphaBar(flowSigma), scale = NoiseLevels.FlowScale(flowSigma);
        double a = Math.Sqrt(alphaBar), sigma = Math.Sqrt(1 - alphaBar), v = Variance(alphaBar);
        for (var i = 0; i < x.Length; i++)
        {
            var centred = x[i] / scale - a * Mean;
            output[i] = (float)(sigma * centred / v - (Mean + a * Std * Std * centred / v));
        }
    }

    /// <summary>The exact probability-flow endpoint (ᾱ = 1) for a variance-preserving sample <paramref name="x"/> at ᾱ.</summary>
    public double ExactEndpoint(double x, double alphaBar) => ExactFlow(x, alphaBar, 1.0);

    /// <summary>
    /// Where the probability-flow ODE takes the variance-preserving sample <paramref name="x"/> at ᾱ =
    /// <paramref name="alphaBar"/> when it stops at ᾱ_f = <paramref name="finalAlphaBar"/>:
    /// √ᾱ_f·μ + (x − √ᾱ·μ)·√(V_f/V), in the variance-preserving scale of ᾱ_f.
    /// </summary>
    public double ExactFlow(double x, double alphaBar, double finalAlphaBar) =>
        Math.Sqrt(finalAlphaBar) * Mean + (x - Math.Sqrt(alphaBar) * Mean) * Math.Sqrt(Variance(finalAlphaBar) / Variance(alphaBar));

    /// <summary>V = ᾱs² + 1 − ᾱ, the variance of x_t at ᾱ.</summary>
    public double Variance(double alphaBar) => alphaBar * Std * Std + 1 - alphaBar;
}
