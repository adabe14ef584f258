using Diffusion.Configuration;

namespace Diffusion.Schedules;

/// <summary>
/// A forward-process noise schedule q(x_t | x_0) = N(√ᾱ_t·x_0, (1−ᾱ_t)·I) and every quantity derived from it,
/// computed once in double precision and exposed read-only, indexed by training timestep t = 0 … T−1.
/// </summary>
public sealed class NoiseSchedule
{
    /// <summary>Lower bound of the posterior variance before its logarithm is taken (the variance is 0 at t = 0).</summary>
    public const double PosteriorVarianceFloor = 1e-20;

    private readonly double[] _betas, _alphas, _alphasCumprod, _alphasCumprodPrev, _sqrtAlphasCumprod, _sqrtOneMinusAlphasCumprod,
        _sqrtRecipAlphasCumprod, _sqrtRecipM1AlphasCumprod, _posteriorVariance, _posteriorLogVarianceClipped, _snr, _logSnr, _sigmas;

    /// <summary>Builds the schedule from explicit betas, one per training timestep, each in (0, 1].</summary>
    public NoiseSchedule(ReadOnlySpan<double> betas)
    {
        if (betas.IsEmpty) throw new ArgumentException("A noise schedule needs at least one beta.", nameof(betas));
        var n = betas.Length;
        _betas = betas.ToArray();
        _alphas = new double[n];
        _alphasCumprod = new double[n];
        _alphasCumprodPrev = new double[n];
        _sqrtAlphasCumprod = new double[n];
        _sqrtOneMinusAlphasCumprod = new double[n];
        _sqrtRecipAlphasCumprod = new double[n];
        _sqrtRecipM1AlphasCumprod = new double[n];
        _posteriorVariance = new double[n];
        _posteriorLogVarianceClipped = new double[n];
        _snr = new double[n];
        _logSnr = new double[n];
        _sigmas = new double[n];

        var product = 1.0;
        for (var t = 0; t < n; t++)
        {
            var beta = _betas[t];
            if (!(beta >= 0 && beta <= 1)) throw new ArgumentOutOfRangeException(nameof(betas), beta, $"beta[{t}] must lie in [0, 1].");
            _alphas[t] = 1 - beta;
            _alphasCumprodPrev[t] = product;
            product *= _alphas[t];
            var abar = _alphasCumprod[t] = product;
            _sqrtAlphasCumprod[t] = Math.Sqrt(abar);
            _sqrtOneMinusAlphasCumprod[t] = Math.Sqrt(1 - abar);
            _sqrtRecipAlphasCumprod[t] = 1 / Math.Sqrt(abar);
            _sqrtRecipM1AlphasCumprod[t] = Math.Sqrt(1 / abar - 1);
            // β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t): the variance of q(x_{t−1} | x_t, x_0), Ho et al. 2020 eq. 7.
            _posteriorVariance[t] = beta * (1 - _alphasCumprodPrev[t]) / (1 - abar);
            _posteriorLogVarianceClipped[t] = Math.Log(Math.Max(_posteriorVariance[t], PosteriorVarianceFloor));
            _snr[t] = abar / (1 - abar);
            _logSnr[t] = Math.Log(abar) - Math.Log(1 - abar);
            _sigmas[t] = Math.Sqrt((1 - abar) / abar);
        }
    }

    /// <summary>The schedule a scheduler configuration describes.</summary>
    public static NoiseSchedule FromConfig(SchedulerConfig config) => new(BetaSchedules.FromConfig(config));

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
    public ReadOnlySpan<double> SqrtAlphasCumprod => _sqrtAlphasCumprod;

    /// <summary>√(1−ᾱ_t), the noise scale of x_t.</summary>
    public ReadOnlySpan<double> SqrtOneMinusAlphasCumprod => _sqrtOneMinusAlphasCumprod;

    /// <summary>1/√ᾱ_t.</summary>
    public ReadOnlySpan<double> SqrtRecipAlphasCumprod => _sqrtRecipAlphasCumprod;

    /// <summary>√(1/ᾱ_t − 1).</summary>
    public ReadOnlySpan<double> SqrtRecipM1AlphasCumprod => _sqrtRecipM1AlphasCumprod;

    /// <summary>β̃_t = β_t(1−ᾱ_{t−1})/(1−ᾱ_t), the variance of the forward-process posterior.</summary>
    public ReadOnlySpan<double> PosteriorVariance => _posteriorVariance;

    /// <summary>log β̃_t with β̃_t clipped below at <see cref="PosteriorVarianceFloor"/>.</summary>
    public ReadOnlySpan<double> PosteriorLogVarianceClipped => _posteriorLogVarianceClipped;

    /// <summary>Signal-to-noise ratio ᾱ_t/(1−ᾱ_t).</summary>
    public ReadOnlySpan<double> Snr => _snr;

    /// <summary>log SNR = log ᾱ_t − log(1−ᾱ_t), written so that it stays accurate where ᾱ_t is near 0 or 1.</summary>
    public ReadOnlySpan<double> LogSnr => _logSnr;

    /// <summary>σ_t = √((1−ᾱ_t)/ᾱ_t), the noise level of the variance-exploding view x_t/√ᾱ_t (Karras et al. 2022).</summary>
    public ReadOnlySpan<double> Sigmas => _sigmas;
}
