using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Training;

/// <summary>
/// Draws training timesteps t ∈ {0, …, T−1} with probabilities p_t: uniform, or proportional to given importance
/// weights. With non-uniform p_t, multiplying each example's loss by <see cref="LossScale"/> = 1/(T·p_t) keeps the
/// estimate of the uniform-average loss (1/T)·Σ_t L_t unbiased (importance sampling, "Improved Denoising Diffusion
/// Probabilistic Models", Nichol &amp; Dhariwal 2021, §3.3).
/// </summary>
/// <remarks>
/// Draws are by inversion of the cumulative distribution with a seeded <see cref="Random"/>, so a seed gives the same
/// timesteps on every run. Instances are not thread-safe.
/// </remarks>
public sealed class TimestepSampler
{
    /// <summary>Share of uniform probability mixed into <see cref="FromLossHistory"/>, as Nichol &amp; Dhariwal's code does.</summary>
    public const double DefaultUniformFraction = 0.001;

    private readonly double[] _probabilities;
    private readonly double[] _cumulative;
    private readonly Random _random;

    private TimestepSampler(double[] probabilities, int seed)
    {
        _probabilities = probabilities;
        _cumulative = new double[probabilities.Length];
        var sum = 0.0;
        for (var t = 0; t < probabilities.Length; t++) _cumulative[t] = sum += probabilities[t];
        _random = new Random(seed);
    }

    /// <summary>p_t = 1/T.</summary>
    /// <param name="numTrainTimesteps">T.</param>
    /// <param name="seed">Seed of the timestep draws.</param>
    public static TimestepSampler Uniform(int numTrainTimesteps, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(numTrainTimesteps, 1);
        var p = new double[numTrainTimesteps];
        Array.Fill(p, 1.0 / numTrainTimesteps);
        return new TimestepSampler(p, seed);
    }

    /// <summary>p_t ∝ <paramref name="weights"/>[t]; the weights must be finite, non-negative and not all zero.</summary>
    /// <param name="weights">One importance weight per training timestep.</param>
    /// <param name="seed">Seed of the timestep draws.</param>
    public static TimestepSampler Weighted(ReadOnlySpan<double> weights, int seed)
    {
        if (weights.IsEmpty) throw new ArgumentException("Need one weight per training timestep.", nameof(weights));
        var total = 0.0;
        for (var t = 0; t < weights.Length; t++)
        {
            if (!(weights[t] >= 0) || double.IsInfinity(weights[t]))
                throw new ArgumentOutOfRangeException(nameof(weights), weights[t], $"weight[{t}] must be finite and non-negative.");
            total += weights[t];
        }
        if (!(total > 0) || double.IsInfinity(total)) throw new ArgumentException("The weights must have a positive, finite sum.", nameof(weights));
        var p = new double[weights.Length];
        for (var t = 0; t < p.Length; t++) p[t] = weights[t] / total;
        return new TimestepSampler(p, seed);
    }

    /// <summary>p_t ∝ w_t of <paramref name="weighting"/> on <paramref name="schedule"/>: draws timesteps where that weighting puts its mass.</summary>
    /// <param name="schedule">The noise schedule.</param>
    /// <param name="weighting">The loss weighting whose w_t become the importance weights (they must all be finite).</param>
    /// <param name="seed">Seed of the timestep draws.</param>
    public static TimestepSampler FromLossWeighting(NoiseSchedule schedule, LossWeighting weighting, int seed)
    {
        ArgumentNullException.ThrowIfNull(weighting);
        return Weighted(weighting.Weights(schedule), seed);
    }

    /// <summary>
    /// p_t ∝ √E[L_t²] from a per-timestep history of the loss's second moment, mixed with a small uniform share
    /// so no timestep is starved: p_t = (1 − u)·√m_t/Σ_s √m_s + u/T (Nichol &amp; Dhariwal 2021, §3.3, and their
    /// <c>LossSecondMomentResampler</c>).
    /// </summary>
    /// <param name="meanSquaredLoss">m_t, the running mean of L_t² for each training timestep.</param>
    /// <param name="seed">Seed of the timestep draws.</param>
    /// <param name="uniformFraction">u, the uniform share, in [0, 1].</param>
    public static TimestepSampler FromLossHistory(ReadOnlySpan<double> meanSquaredLoss, int seed, double uniformFraction = DefaultUniformFraction)
    {
        if (!(uniformFraction >= 0 && uniformFraction <= 1)) throw new ArgumentOutOfRangeException(nameof(uniformFraction), uniformFraction, "Must lie in [0, 1].");
        var weights = new double[meanSquaredLoss.Length];
        for (var t = 0; t < weights.Length; t++)
        {
            if (!(meanSquaredLoss[t] >= 0) || double.IsInfinity(meanSquaredLoss[t]))
                throw new ArgumentOutOfRangeException(nameof(meanSquaredLoss), meanSquaredLoss[t], $"meanSquaredLoss[{t}] must be finite and non-negative.");
            weights[t] = Math.Sqrt(meanSquaredLoss[t]);
        }
        var total = 0.0;
        foreach (var w in weights) total += w;
        if (!(total > 0)) throw new ArgumentException("The loss history must not be all zero.", nameof(meanSquaredLoss));
        for (var t = 0; t < weights.Length; t++) weights[t] = (1 - uniformFraction) * weights[t] / total + uniformFraction / weights.Length;
        return Weighted(weights, seed);
    }

    /// <summary>Number of training timesteps T.</summary>
    public int NumTrainTimesteps => _probabilities.Length;

    /// <summary>p_t for t = 0 … T−1; they sum to 1.</summary>
    public ReadOnlySpan<double> Probabilities => _probabilities;

    /// <summary>The factor 1/(T·p_t) that makes a loss at a timestep drawn by this sampler an unbiased estimate of the uniform average.</summary>
    public double LossScale(int timestep) => 1 / (NumTrainTimesteps * _probabilities[timestep]);

    /// <summary>One timestep drawn with probabilities p_t.</summary>
    public int Next()
    {
        var u = _random.NextDouble() * _cumulative[^1];
        var index = Array.BinarySearch(_cumulative, u);
        // The draw is the first t whose cumulative probability exceeds u. BinarySearch gives the complement of that
        // index when u is not an entry, and an entry's index when it is. Timesteps with p_t = 0 (a repeated
        // cumulative value) are stepped over, so they are never drawn, even when rounding puts u at the very end.
        var last = _probabilities.Length - 1;
        index = Math.Min(index < 0 ? ~index : index + 1, last);
        while (index < last && _probabilities[index] == 0) index++;
        while (index > 0 && _probabilities[index] == 0) index--;
        return index;
    }

    /// <summary>Fills <paramref name="destination"/> with independent draws.</summary>
    public void Next(Span<int> destination)
    {
        for (var i = 0; i < destination.Length; i++) destination[i] = Next();
    }
}
