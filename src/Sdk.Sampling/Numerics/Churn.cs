using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The churn of Karras et al. 2022 (Algorithm 2, https://arxiv.org/abs/2206.00364): before a step at σ inside
/// [<c>s_tmin</c>, <c>s_tmax</c>], raise the noise level to σ̂ = σ·(1 + γ), γ = min(<c>s_churn</c>/m, √2 − 1), by adding
/// fresh noise z·<c>s_noise</c>·√(σ̂² − σ²). m is the length of the sampler's σ table less one, as the reference divides.
/// </summary>
public static class Churn
{
    /// <summary>γ for a step at <paramref name="sigma"/> (float32, as the reference's table), 0 outside [s_tmin, s_tmax] or without churn.</summary>
    public static double Gamma(SchedulerConfig config, float sigma, int tableLengthLessOne)
    {
        ArgumentNullException.ThrowIfNull(config);
        var churn = config.SChurn ?? 0;
        if (churn == 0) return 0;
        // The bounds meet a float32 σ: compared in float32.
        float tmin = (float)(config.STmin ?? 0), tmax = (float)(config.STmax ?? double.PositiveInfinity);
        return tmin <= sigma && sigma <= tmax ? Math.Min(churn / tableLengthLessOne, Math.Sqrt(2) - 1) : 0;
    }

    /// <summary>σ̂ = σ·(γ + 1), γ + 1 rounded to float32 first.</summary>
    public static float SigmaHat(float sigma, double gamma) => sigma * (float)(gamma + 1);

    /// <summary>
    /// The formula x + (z·s_noise)·√(σ̂² − σ²) for <c>ApplyWithNoise</c> (its first input the sample; the second is not read),
    /// with the reference's float32 roundings.
    /// </summary>
    public readonly record struct Move : ElementWise.IOperator3
    {
        private readonly float _noiseScale, _amount;

        /// <summary>The move from <paramref name="sigma"/> to <paramref name="sigmaHat"/> with noise scale <c>s_noise</c> of <paramref name="config"/>.</summary>
        public Move(SchedulerConfig config, float sigma, float sigmaHat)
        {
            ArgumentNullException.ThrowIfNull(config);
            _noiseScale = (float)(config.SNoise ?? 1);
            _amount = MathF.Sqrt(sigmaHat * sigmaHat - sigma * sigma);
        }

        /// <inheritdoc/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T unused, T noise) where T : struct, IFloatVector<T> => sample + noise * _noiseScale * _amount;
    }
}
