using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Training;

/// <summary>
/// The forward (noising) process of "Denoising Diffusion Probabilistic Models" (Ho et al. 2020, eqs. 2 and 4): one
/// step q(x_t | x_{t−1}) = N(√α_t·x_{t−1}, β_t·I), and the closed-form jump q(x_t | x_0) = N(√ᾱ_t·x_0, (1 − ᾱ_t)·I)
/// that composing the steps gives. Timesteps are the SDK's 0-based training timesteps: x_t is the sample after the
/// steps 0 … t, so <see cref="QSample"/> at t and <see cref="SequentialSample"/> at t have the same distribution
/// (the paper's t is this t + 1). Everything works on caller-owned spans and allocates nothing.
/// </summary>
public static class ForwardProcess
{
    /// <summary>
    /// The closed-form jump x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε (Ho et al. 2020, eq. 4): a draw of q(x_t | x_0) in one
    /// step for any t.
    /// </summary>
    /// <param name="schedule">The noise schedule.</param>
    /// <param name="timestep">t, from 0 to T−1.</param>
    /// <param name="sample0">The clean sample x_0.</param>
    /// <param name="noise">Standard-normal noise ε, as long as x_0.</param>
    /// <param name="destination">Receives x_t; may alias <paramref name="sample0"/> or <paramref name="noise"/>.</param>
    public static void QSample(NoiseSchedule schedule, int timestep, ReadOnlySpan<float> sample0, ReadOnlySpan<float> noise, Span<float> destination)
    {
        CheckArguments(schedule, timestep, sample0, noise, destination);
        PredictionMath.Combine((float)schedule.SqrtAlphasCumprod[timestep], sample0, (float)schedule.SqrtOneMinusAlphasCumprod[timestep], noise, destination);
    }

    /// <summary>One forward step x_t = √α_t·x_{t−1} + √β_t·ε_t (Ho et al. 2020, eq. 2).</summary>
    /// <param name="schedule">The noise schedule.</param>
    /// <param name="timestep">t, from 0 to T−1 (at t = 0, <paramref name="previous"/> is x_0 itself).</param>
    /// <param name="previous">x_{t−1}.</param>
    /// <param name="noise">Fresh standard-normal noise ε_t.</param>
    /// <param name="destination">Receives x_t; may alias <paramref name="previous"/>.</param>
    public static void Step(NoiseSchedule schedule, int timestep, ReadOnlySpan<float> previous, ReadOnlySpan<float> noise, Span<float> destination)
    {
        CheckArguments(schedule, timestep, previous, noise, destination);
        PredictionMath.Combine((float)Math.Sqrt(schedule.Alphas[timestep]), previous, (float)Math.Sqrt(schedule.Betas[timestep]), noise, destination);
    }

    /// <summary>
    /// x_t by applying <see cref="Step"/> for the timesteps 0 … t in turn, each with fresh noise from
    /// <paramref name="noiseSource"/> (one <see cref="INoiseSource.NextGaussian"/> call per step, of x_0's length):
    /// t + 1 steps where <see cref="QSample"/> takes one. Kept to show and test that the two agree in distribution.
    /// </summary>
    /// <param name="schedule">The noise schedule.</param>
    /// <param name="timestep">t, from 0 to T−1.</param>
    /// <param name="sample0">The clean sample x_0.</param>
    /// <param name="noiseSource">Where each step's ε_s comes from.</param>
    /// <param name="destination">Receives x_t; may alias <paramref name="sample0"/>.</param>
    /// <param name="scratch">Working space for one step's noise, as long as x_0; must not overlap the other spans.</param>
    public static void SequentialSample(NoiseSchedule schedule, int timestep, ReadOnlySpan<float> sample0, INoiseSource noiseSource, Span<float> destination, Span<float> scratch)
    {
        ArgumentNullException.ThrowIfNull(noiseSource);
        CheckArguments(schedule, timestep, sample0, scratch, destination);
        if (scratch.Overlaps(destination) || scratch.Overlaps(sample0))
            throw new ArgumentException("The scratch span must not overlap the sample or the destination.", nameof(scratch));
        sample0.CopyTo(destination);
        for (var s = 0; s <= timestep; s++)
        {
            noiseSource.NextGaussian(scratch);
            Step(schedule, s, destination, scratch, destination);
        }
    }

    private static void CheckArguments(NoiseSchedule schedule, int timestep, ReadOnlySpan<float> sample, ReadOnlySpan<float> noise, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentOutOfRangeException.ThrowIfNegative(timestep);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(timestep, schedule.NumTrainTimesteps);
        if (noise.Length != sample.Length || destination.Length != sample.Length)
            throw new ArgumentException($"The sample ({sample.Length}), noise ({noise.Length}) and destination ({destination.Length}) must have the same length.");
    }
}
