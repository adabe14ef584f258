using System.Runtime.CompilerServices;

namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// A forward-process noise schedule q(x_t | x_0) = N(√ᾱ_t·x_0, (1−ᾱ_t)·I) and every quantity derived from it,
/// in double precision (the derived tables on first use), exposed read-only, indexed by training timestep t = 0 … T−1.
/// </summary>
public sealed class NoiseSchedule
{
    /// <summary>Lower bound of the posterior variance before its logarithm is taken (the variance is 0 at t = 0).</summary>
    public const double PosteriorVarianceFloor = 1e-20;

    private readonly double[] _betas, _alphas, _alphasCumprod, _alphasCumprodPrev;

    // The derived tables are computed on first use, each from ᾱ by its own formula: a sampler built per run (as a
    // user's loop builds one) pays only for the tables it reads. A table is filled before it is published, so a race
    // between two threads computes the same values twice at worst.
    private double[]? _sqrtAlphasCumprod, _sqrtOneMinusAlphasCumprod, _sqrtRecipAlphasCumprod, _sqrtRecipM1AlphasCumprod, _posteriorVariance,
        _posteriorLogVarianceClipped, _snr, _logSnr, _sigmas;

    /// <summary>Builds the schedule from explicit betas, one per training timestep, each in (0, 1].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public NoiseSchedule(ReadOnlySpan<double> betas)
    {
        if (betas.IsEmpty) throw new ArgumentException("A noise schedule needs at least one beta.", nameof(betas));
        var n = betas.Length;
        _betas = betas.ToArray();
        _alphas = new double[n];
        _alphasCumprod = new double[n];
        _alphasCumprodPrev = new double[n];

        var product = 1.0;
        for (var t = 0; t < n; t++)
        {
            var beta = _betas[t];
            if (!(beta >= 0 && beta <= 1)) throw new ArgumentOutOfRangeException(nameof(betas), beta, $"beta[{t}] must lie in [0, 1].");
            _alphas[t] = 1 - beta;
            _alphasCumprodPrev[t] = product;
            product *= _alphas[t];
            _alphasCumprod[t] = product;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double[] Table(ref double[]? table, Func<NoiseSchedule, int, double> entry)
    {
        if (table is { } existing) return existing;
        var values = new double[_betas.Length];
        for (var t = 0; t < values.Length; t++) values[t] = entry(this, t);
        table = values;
        return values;
    }

    /// <summary>The schedule a scheduler configuration describes.</summary>
    /// <remarks>
    /// A schedule never changes once built, so the one of the last formula-defined β schedule asked for is kept and
    /// handed out again: a user's loop creates a sampler per run, and five 1000-entry tables (40 KB) per sampler cost
    /// about as much as the run's steps on small latents. Trained β lists are built every time.
    /// </remarks>
    public static NoiseSchedule FromConfig(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.TrainedBetas is not null) return new(BetaSchedules.FromConfig(config));
        var key = new ScheduleKey(config.BetaSchedule, config.BetaStart, config.BetaEnd, config.NumTrainTimesteps, config.RescaleBetasZeroSnr);
        if (s_last is { } last && last.Key == key) return last.Schedule;
        var schedule = new NoiseSchedule(BetaSchedules.FromConfig(config));
        s_last = new LastSchedule(key, schedule);
        return schedule;
    }

    private readonly record struct ScheduleKey(BetaSchedule Kind, double Start, double End, int Count, bool ZeroTerminalSnr);

    private sealed record LastSchedule(ScheduleKey Key, NoiseSchedule Schedule);

    private static volatile LastSchedule? s_last;

    /// <summary>Number of training timesteps T.</summary>
    public int NumTrainTimesteps => _betas.Length;

    /// <summary>β_t, the variance added at step t.</summary>
    public ReadOnlySpan<double> Betas => _betas;

    /// <summary>α_t = 1 − β_t.</summary>
    public ReadOnlySpan<double> Alphas => _alphas;

    /// <summary>ᾱ_t = ∏_{s≤t} α_s (<c>alphas_cumprod</c>).</summary>
    public ReadOnlySpan<double> AlphasCumprod => _alphasCumprod;

    /// <summary>ᾱ_{t−1}, with ᾱ_{−1} = 1.</summary>
    public ReadOnlySpan<double> AlphasCumprodPrev => _alphasCumprodPrev;

    /// <summary>√ᾱ_t, the signal scale of x_t.</summary>
    public ReadOnlySpan<double> SqrtAlphasCumprod => Table(ref _sqrtAlphasCumprod, static (s, t) => Math.Sqrt(s._alphasCumprod[t]));

    /// <summary>√(1−ᾱ_t), the noise scale of x_t.</summary>
    public ReadOnlySpan<double> SqrtOneMinusAlphasCumprod => Table(ref _sqrtOneMinusAlphasCumprod, static (s, t) => Math.Sqrt(1 - s._alphasCumprod[t]));

    /// <summary>1/√ᾱ_t.</summary>
    public ReadOnlySpan<double> SqrtRecipAlphasCumprod => Table(ref _sqrtRecipAlphasCumprod, static (s, t) => 1 / Math.Sqrt(s._alphasCumprod[t]));

    /// <summary>√(1/ᾱ_t − 1).</summary>
    public ReadOnlySpan<double> SqrtRecipM1AlphasCumprod => Table(ref _sqrtRecipM1AlphasCumprod, static (s, t) => Math.Sqrt(1 / s._alphasCumprod[t] - 1));

    /// <summary>β̃_t = β_t(1−ᾱ_{t−1})/(1−ᾱ_t), the variance of the forward-process posterior.</summary>
    public ReadOnlySpan<double> PosteriorVariance => Table(ref _posteriorVariance, static (s, t) => s.PosteriorVarianceAt(t));

    /// <summary>log β̃_t with β̃_t clipped below at <see cref="PosteriorVarianceFloor"/>.</summary>
    public ReadOnlySpan<double> PosteriorLogVarianceClipped => Table(ref _posteriorLogVarianceClipped, static (s, t) => Math.Log(Math.Max(s.PosteriorVarianceAt(t), PosteriorVarianceFloor)));

    /// <summary>Signal-to-noise ratio ᾱ_t/(1−ᾱ_t).</summary>
    public ReadOnlySpan<double> Snr => Table(ref _snr, static (s, t) => s._alphasCumprod[t] / (1 - s._alphasCumprod[t]));

    /// <summary>log SNR = log ᾱ_t − log(1−ᾱ_t), written so that it stays accurate where ᾱ_t is near 0 or 1.</summary>
    public ReadOnlySpan<double> LogSnr => Table(ref _logSnr, static (s, t) => Math.Log(s._alphasCumprod[t]) - Math.Log(1 - s._alphasCumprod[t]));

    /// <summary>σ_t = √((1−ᾱ_t)/ᾱ_t), the noise level of the variance-exploding view x_t/√ᾱ_t (Karras et al. 2022).</summary>
    public ReadOnlySpan<double> Sigmas => Table(ref _sigmas, static (s, t) => Math.Sqrt((1 - s._alphasCumprod[t]) / s._alphasCumprod[t]));

    // β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t): the variance of q(x_{t−1} | x_t, x_0), Ho et al. 2020 eq. 7.
    private double PosteriorVarianceAt(int t) => _betas[t] * (1 - _alphasCumprodPrev[t]) / (1 - _alphasCumprod[t]);
}
