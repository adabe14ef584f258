using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Training;

/// <summary>
/// Makes the training triples (x_t, t, ε) of a denoising network: for each example of a batch of clean samples x_0, a
/// timestep t from a <see cref="TimestepSampler"/>, noise ε ~ N(0, I) and x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε
/// (<see cref="ForwardProcess.QSample"/>). The network is then trained to predict ε (or x_0, or v) from (x_t, t).
/// </summary>
/// <remarks>
/// The order of draws follows the usual training loop (<c>noise = randn_like(x0)</c>, then the timesteps): one
/// <see cref="INoiseSource.NextGaussian"/> call for the whole batch's noise, then one timestep per example. With
/// <see cref="TorchGaussianNoise"/> the noise is therefore what <c>torch.randn(x0.shape)</c> gives for the same seed.
/// <see cref="Next"/> allocates nothing. Instances are not thread-safe.
/// </remarks>
/// <param name="schedule">The noise schedule.</param>
/// <param name="timesteps">Where the timesteps come from: uniform or importance-weighted.</param>
/// <param name="noiseSource">Where ε comes from.</param>
public sealed class TrainingBatchGenerator(NoiseSchedule schedule, TimestepSampler timesteps, INoiseSource noiseSource)
{
    private readonly NoiseSchedule _schedule = schedule ?? throw new ArgumentNullException(nameof(schedule));
    private readonly TimestepSampler _timesteps = CheckSampler(timesteps, schedule);
    private readonly INoiseSource _noise = noiseSource ?? throw new ArgumentNullException(nameof(noiseSource));

    /// <summary>The noise schedule.</summary>
    public NoiseSchedule Schedule => _schedule;

    /// <summary>The timestep sampler.</summary>
    public TimestepSampler Timesteps => _timesteps;

    /// <summary>
    /// Fills one batch. The batch size B is <paramref name="timesteps"/>.Length; <paramref name="sample0"/> holds B
    /// examples of equal size, one after another, and so do <paramref name="noisySample"/> and <paramref name="noise"/>.
    /// </summary>
    /// <param name="sample0">The clean samples x_0, B·n values.</param>
    /// <param name="noisySample">Receives x_t of each example, B·n values.</param>
    /// <param name="noise">Receives ε of each example (the regression target of an ε-prediction network), B·n values.</param>
    /// <param name="timesteps">Receives t of each example.</param>
    /// <param name="lossScales">
    /// Optional (empty to skip): receives 1/(T·p_t) for each example, the factor that keeps the batch's mean loss
    /// an unbiased estimate of the uniform-average loss when the timesteps are importance-sampled (all 1 when uniform).
    /// </param>
    public void Next(ReadOnlySpan<float> sample0, Span<float> noisySample, Span<float> noise, Span<int> timesteps, Span<float> lossScales = default)
    {
        var batch = timesteps.Length;
        if (batch == 0) throw new ArgumentException("The batch needs at least one example.", nameof(timesteps));
        if (sample0.Length % batch != 0) throw new ArgumentException($"{sample0.Length} values do not split into {batch} examples.", nameof(sample0));
        if (noisySample.Length != sample0.Length || noise.Length != sample0.Length)
            throw new ArgumentException("The noisy samples and the noise must be as long as the clean samples.");
        if (!lossScales.IsEmpty && lossScales.Length != batch) throw new ArgumentException("Need one loss scale per example.", nameof(lossScales));
        if (noisySample.Overlaps(noise)) throw new ArgumentException("The noisy samples and the noise must not overlap.", nameof(noise));

        _noise.NextGaussian(noise);
        _timesteps.Next(timesteps);
        var size = sample0.Length / batch;
        for (var b = 0; b < batch; b++)
        {
            var range = new Range(b * size, (b + 1) * size);
            ForwardProcess.QSample(_schedule, timesteps[b], sample0[range], noise[range], noisySample[range]);
            if (!lossScales.IsEmpty) lossScales[b] = (float)_timesteps.LossScale(timesteps[b]);
        }
    }

    private static TimestepSampler CheckSampler(TimestepSampler timesteps, NoiseSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(timesteps);
        if (schedule is not null && timesteps.NumTrainTimesteps != schedule.NumTrainTimesteps)
            throw new ArgumentException($"The sampler draws from {timesteps.NumTrainTimesteps} timesteps but the schedule has {schedule.NumTrainTimesteps}.", nameof(timesteps));
        return timesteps;
    }
}
