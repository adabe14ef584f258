using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
namespace Diffusion.Sdk.Sampling;

/// <summary>
/// Noise-level (σ) arithmetic shared by the sigma-space samplers: mapping between σ and (fractional) training
/// timesteps by interpolating log σ, linear interpolation of a table, and the Karras et al. 2022 spacing.
/// </summary>
public static class SigmaMath
{
    /// <summary>Default ρ of the Karras spacing ("Elucidating the Design Space of Diffusion-Based Generative Models", eq. 5).</summary>
    public const double KarrasRho = 7.0;

    /// <summary>
    /// ᾱ that sigma-space samplers use for the last training step of a zero-terminal-SNR schedule (whose true ᾱ is 0,
    /// where σ would be infinite): 2⁻²⁴, the reference's choice, which keeps σ_max ≈ 4096 finite.
    /// </summary>
    public const double ZeroTerminalSnrAlphaCumprod = 1.0 / (1 << 24);

    /// <summary>
    /// n noise levels σ_i = (σ_max^{1/ρ} + i/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, from σ_max down to σ_min
    /// (Karras et al. 2022, eq. 5): dense steps at low noise, where detail forms.
    /// </summary>
    public static double[] Karras(double sigmaMin, double sigmaMax, int count, double rho = KarrasRho)
    {
        CheckRange(sigmaMin, sigmaMax, count);
        var minInvRho = Math.Pow(sigmaMin, 1 / rho);
        var maxInvRho = Math.Pow(sigmaMax, 1 / rho);
        var ramp = TimestepSpacings.Linspace(0, 1, count);
        var sigmas = new double[count];
        for (var i = 0; i < count; i++) sigmas[i] = Math.Pow(maxInvRho + ramp[i] * (minInvRho - maxInvRho), rho);
        return sigmas;
    }

    /// <summary>
    /// n noise levels spaced geometrically from σ_max down to σ_min: exp of n points evenly spaced in log σ (the
    /// reference's <c>use_exponential_sigmas</c>).
    /// </summary>
    public static double[] Exponential(double sigmaMin, double sigmaMax, int count)
    {
        CheckRange(sigmaMin, sigmaMax, count);
        var logs = TimestepSpacings.Linspace(Math.Log(sigmaMax), Math.Log(sigmaMin), count);
        for (var i = 0; i < count; i++) logs[i] = Math.Exp(logs[i]);
        return logs;
    }

    /// <summary>Both parameters of the Beta distribution whose quantiles space <see cref="Beta"/> sigmas (the reference's default).</summary>
    public const double BetaSigmasShape = 0.6;

    /// <summary>
    /// n noise levels σ_i = σ_min + q_i·(σ_max − σ_min), q_i the quantile at 1 − i/(n−1) of a Beta(α, β) distribution
    /// ("Beta Sampling is All You Need", Lee et al. 2024, https://arxiv.org/abs/2407.12173): with α = β &lt; 1 the steps
    /// crowd at both ends of the noise range (the reference's <c>use_beta_sigmas</c>).
    /// </summary>
    public static double[] Beta(double sigmaMin, double sigmaMax, int count, double alpha = BetaSigmasShape, double beta = BetaSigmasShape)
    {
        CheckRange(sigmaMin, sigmaMax, count);
        var ramp = TimestepSpacings.Linspace(0, 1, count);
        var sigmas = new double[count];
        for (var i = 0; i < count; i++)
        {
            var q = BetaDistribution.Quantile(1 - ramp[i], alpha, beta);
            sigmas[i] = sigmaMin + q * (sigmaMax - sigmaMin);
        }
        return sigmas;
    }

    // Both ends positive. They may come swapped (σ_min above σ_max): the spacing then ascends, as the reference's
    // inversion schedulers use it (they pass the table's ends in that order).
    private static void CheckRange(double sigmaMin, double sigmaMax, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (!(sigmaMin > 0) || !(sigmaMax > 0))
            throw new ArgumentOutOfRangeException(nameof(sigmaMin), $"Need sigma_min and sigma_max > 0 (got {sigmaMin}, {sigmaMax}).");
    }

    /// <summary>
    /// The fractional training timestep whose σ is <paramref name="sigma"/>, by linear interpolation of log σ between
    /// the two neighbouring training timesteps (clamped to the table's range).
    /// </summary>
    /// <param name="sigma">The noise level.</param>
    /// <param name="logSigmas">log σ_t of the training schedule, ascending in t.</param>
    public static double SigmaToTimestep(double sigma, ReadOnlySpan<double> logSigmas)
    {
        var logSigma = Math.Log(Math.Max(sigma, 1e-10));
        // The last index whose log σ does not exceed ours, kept so that a neighbour above exists.
        var low = 0;
        for (var i = 0; i < logSigmas.Length; i++)
            if (logSigma - logSigmas[i] >= 0) low = i;
        low = Math.Min(low, logSigmas.Length - 2);
        var high = low + 1;
        var w = (logSigmas[low] - logSigma) / (logSigmas[low] - logSigmas[high]);
        w = Math.Clamp(w, 0, 1);
        return (1 - w) * low + w * high;
    }

    /// <summary>
    /// Checks an explicit σ list (non-empty, strictly descending, every value positive and finite) and returns a copy,
    /// or throws <see cref="SchedulerConfigException"/> naming the first bad entry.
    /// </summary>
    public static double[] ValidateSigmas(IReadOnlyList<double> sigmas)
    {
        ArgumentNullException.ThrowIfNull(sigmas);
        if (sigmas.Count == 0) throw new SchedulerConfigException("sigmas", "[]", "a non-empty, strictly descending list of positive numbers");
        for (var i = 0; i < sigmas.Count; i++)
        {
            var s = sigmas[i];
            if (!(s > 0) || !double.IsFinite(s))
                throw new SchedulerConfigException($"sigmas[{i}]", s.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "a finite number > 0");
            if (i > 0 && !(s < sigmas[i - 1]))
                throw new SchedulerConfigException($"sigmas[{i}]", s.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "a value below the previous one: the list must be strictly descending");
        }
        return sigmas.ToArray();
    }

    /// <summary>log σ_t for every training timestep of a schedule.</summary>
    public static double[] LogSigmas(NoiseSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        var result = new double[schedule.NumTrainTimesteps];
        for (var t = 0; t < result.Length; t++) result[t] = Math.Log(schedule.Sigmas[t]);
        return result;
    }

    /// <summary>
    /// Piecewise-linear interpolation of the table (x_i, y_i) at <paramref name="x"/>, with x ascending; values outside
    /// the table take the end values.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double Interpolate(double x, ReadOnlySpan<double> xs, ReadOnlySpan<double> ys)
    {
        if (xs.Length != ys.Length || xs.IsEmpty) throw new ArgumentException("The table needs matching, non-empty x and y columns.");
        if (x <= xs[0]) return ys[0];
        if (x >= xs[^1]) return ys[^1];
        // The first entry not below x (a lower bound, by bisection: the table is ascending); xs[0] < x < xs[^1] here.
        int lo = 0, hi = xs.Length - 1;
        while (hi - lo > 1)
        {
            var mid = lo + (hi - lo) / 2;
            if (xs[mid] < x) lo = mid;
            else hi = mid;
        }
        var w = (x - xs[lo]) / (xs[hi] - xs[lo]);
        return ys[lo] + w * (ys[hi] - ys[lo]);
    }

    /// <summary>σ at a fractional training timestep, by linear interpolation of σ_t (the reference's default for Euler).</summary>
    public static double SigmaAtTimestep(double timestep, NoiseSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        var t = Math.Clamp(timestep, 0, schedule.NumTrainTimesteps - 1);
        var lo = (int)Math.Floor(t);
        var hi = Math.Min(lo + 1, schedule.NumTrainTimesteps - 1);
        var w = t - lo;
        return (1 - w) * schedule.Sigmas[lo] + w * schedule.Sigmas[hi];
    }
}
