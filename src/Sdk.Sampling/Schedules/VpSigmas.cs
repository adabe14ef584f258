using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The variance-preserving view of a variance-exploding noise level σ (the σ tables of the DPM-Solver family): x =
/// α·x₀ + σ_vp·ε with α = 1/√(1+σ²) and σ_vp = σ·α, and the forward process at the noise levels of a σ schedule.
/// </summary>
public static class VpSigmas
{
    /// <summary>α = 1/√(1+σ²) and σ_vp = σ·α for a variance-exploding σ.</summary>
    public static (double Alpha, double Sigma) AlphaSigma(double sigma)
    {
        var alpha = 1 / Math.Sqrt(sigma * sigma + 1);
        return (alpha, sigma * alpha);
    }

    /// <summary>The position of <paramref name="timestep"/> in a schedule, the second one where it repeats (as the reference), or −1.</summary>
    public static int IndexOf(IReadOnlyList<double> timesteps, double timestep)
    {
        ArgumentNullException.ThrowIfNull(timesteps);
        var first = -1;
        for (var i = 0; i < timesteps.Count; i++)
        {
            if (timesteps[i] != timestep) continue;
            if (first >= 0) return i;
            first = i;
        }
        return first;
    }

    /// <summary>
    /// The forward process for one batch item per timestep: a timestep of the schedule takes its σ from
    /// <paramref name="sigmas"/> (<see cref="IndexOf"/>), any other the training table's σ, interpolated at fractional
    /// timesteps (<paramref name="trainSigmas"/> indexed by training timestep).
    /// </summary>
    public static void AddNoise(IReadOnlyList<double> timesteps, IReadOnlyList<double> sigmas, ReadOnlySpan<double> trainSigmas,
        ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> noiseTimesteps, Span<float> destination) =>
        AddNoise(timesteps, sigmas, trainSigmas, original, noise, noiseTimesteps, destination, flow: false);

    /// <summary>
    /// <see cref="AddNoise(IReadOnlyList{double}, IReadOnlyList{double}, ReadOnlySpan{double}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{double}, Span{float})"/>
    /// on flow σ when <paramref name="flow"/> (x = (1 − σ)·x₀ + σ·ε; a timestep off the schedule takes σ = t/N).
    /// </summary>
    public static void AddNoise(IReadOnlyList<double> timesteps, IReadOnlyList<double> sigmas, ReadOnlySpan<double> trainSigmas,
        ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> noiseTimesteps, Span<float> destination, bool flow)
    {
        ArgumentNullException.ThrowIfNull(sigmas);
        var itemLength = original.Length / Math.Max(noiseTimesteps.Length, 1);
        for (var b = 0; b < noiseTimesteps.Length; b++)
        {
            var t = noiseTimesteps[b];
            if (!(t >= 0 && t <= trainSigmas.Length - 1))
                throw new SamplerStateException($"Timestep {t} is outside [0, {trainSigmas.Length - 1}].");
            var index = IndexOf(timesteps, t);
            var low = (int)Math.Floor(t);
            var high = Math.Min(low + 1, trainSigmas.Length - 1);
            var sigma = index >= 0 ? sigmas[index]
                : flow ? t / trainSigmas.Length
                : trainSigmas[low] + (t - low) * (trainSigmas[high] - trainSigmas[low]);
            // α and σ_t in float32 from the float32 σ, as the reference's add-noise forms them.
            var (alpha, sigmaVp) = VpFloat32.AlphaSigma((float)sigma, flow);
            var range = new Range(b * itemLength, (b + 1) * itemLength);
            PredictionMath.Combine(alpha, original[range], sigmaVp, noise[range], destination[range]);
        }
    }
}
