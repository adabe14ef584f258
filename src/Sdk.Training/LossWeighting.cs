using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Training;

/// <summary>The per-timestep weightings of the noise-prediction loss that <see cref="LossWeighting"/> offers.</summary>
public enum LossWeightingKind
{
    /// <summary>w_t = 1: the "simple" loss of Ho et al. 2020 (eq. 14).</summary>
    Uniform,
    /// <summary>The weight that turns the ε-loss into the variational bound term L_{t−1} (Ho et al. 2020, eq. 12).</summary>
    VariationalBound,
    /// <summary>Min-SNR-γ: w_t = min(SNR_t, γ)/SNR_t (Hang et al. 2023).</summary>
    MinSnr,
    /// <summary>Perception-prioritized (P2): w_t = 1/(k + SNR_t)^γ (Choi et al. 2022).</summary>
    P2,
}

/// <summary>
/// A weighting w_t of the per-timestep noise-prediction loss ‖ε − ε_θ(x_t, t)‖², so that training minimizes
/// E_t[w_t·‖ε − ε_θ‖²]. All weights are relative to the ε-prediction (simple) loss; SNR_t = ᾱ_t/(1 − ᾱ_t) is
/// <see cref="NoiseSchedule.Snr"/>.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><description><see cref="Uniform"/>: w_t = 1 ("Denoising Diffusion Probabilistic Models", Ho et al. 2020, eq. 14).</description></item>
/// <item><description>
/// <see cref="VariationalBound"/>: w_t = β_t²/(2σ_t²·α_t·(1 − ᾱ_t)) (Ho et al. 2020, eq. 12), with σ_t² the reverse-process
/// variance taken as the posterior variance β̃_t = β_t(1 − ᾱ_{t−1})/(1 − ᾱ_t) (<see cref="NoiseSchedule.PosteriorVariance"/>).
/// β̃ is 0 at the first timestep, so there β̃ of the second timestep is used, as the reference code of Ho et al. and
/// Nichol &amp; Dhariwal 2021 do (<c>posterior_log_variance_clipped</c>). The weight is infinite where α_t = 0 (the last
/// step of a zero-terminal-SNR schedule).
/// </description></item>
/// <item><description>
/// <see cref="MinSnr"/>: w_t = min(SNR_t, γ)/SNR_t ("Efficient Diffusion Training via Min-SNR Weighting Strategy",
/// Hang et al. 2023, the form for ε-prediction; γ = 5 by default). Where SNR_t = 0 the limit 1 is used.
/// </description></item>
/// <item><description>
/// <see cref="P2"/>: w_t = 1/(k + SNR_t)^γ ("Perception Prioritized Training of Diffusion Models", Choi et al. 2022:
/// their λ_t/(k + SNR_t)^γ written relative to the simple loss; k = 1, γ = 1 by default).
/// </description></item>
/// </list>
/// Instances are immutable; <see cref="ToString"/> gives a short label such as <c>min-SNR-5</c>.
/// </remarks>
public sealed class LossWeighting
{
    /// <summary>γ of min-SNR-γ that Hang et al. 2023 recommend.</summary>
    public const double DefaultMinSnrGamma = 5;

    private LossWeighting(LossWeightingKind kind, double gamma, double k)
    {
        Kind = kind;
        Gamma = gamma;
        K = k;
    }

    /// <summary>w_t = 1.</summary>
    public static LossWeighting Uniform { get; } = new(LossWeightingKind.Uniform, 0, 0);

    /// <summary>w_t = β_t²/(2β̃_t·α_t·(1 − ᾱ_t)), the variational bound's weight (see the remarks for t = 0).</summary>
    public static LossWeighting VariationalBound { get; } = new(LossWeightingKind.VariationalBound, 0, 0);

    /// <summary>w_t = min(SNR_t, γ)/SNR_t.</summary>
    /// <param name="gamma">The SNR above which the loss is down-weighted; positive.</param>
    public static LossWeighting MinSnr(double gamma = DefaultMinSnrGamma)
    {
        if (!(gamma > 0) || double.IsInfinity(gamma)) throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "gamma must be positive and finite.");
        return new(LossWeightingKind.MinSnr, gamma, 0);
    }

    /// <summary>w_t = 1/(k + SNR_t)^γ.</summary>
    /// <param name="gamma">The exponent γ, at least 0 (0 gives the uniform weighting).</param>
    /// <param name="k">The offset k, positive, which keeps the weight finite where SNR_t is near 0.</param>
    public static LossWeighting P2(double gamma = 1, double k = 1)
    {
        if (!(gamma >= 0) || double.IsInfinity(gamma)) throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "gamma must be non-negative and finite.");
        if (!(k > 0) || double.IsInfinity(k)) throw new ArgumentOutOfRangeException(nameof(k), k, "k must be positive and finite.");
        return new(LossWeightingKind.P2, gamma, k);
    }

    /// <summary>Which weighting this is.</summary>
    public LossWeightingKind Kind { get; }

    /// <summary>γ of <see cref="LossWeightingKind.MinSnr"/> and <see cref="LossWeightingKind.P2"/>; 0 otherwise.</summary>
    public double Gamma { get; }

    /// <summary>k of <see cref="LossWeightingKind.P2"/>; 0 otherwise.</summary>
    public double K { get; }

    /// <summary>The weight w_t at training timestep <paramref name="timestep"/> of <paramref name="schedule"/>.</summary>
    public double Weight(NoiseSchedule schedule, int timestep)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentOutOfRangeException.ThrowIfNegative(timestep);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(timestep, schedule.NumTrainTimesteps);
        return Kind switch
        {
            LossWeightingKind.Uniform => 1,
            LossWeightingKind.VariationalBound => VariationalBoundWeight(schedule, timestep),
            LossWeightingKind.MinSnr => schedule.Snr[timestep] is var snr && snr > 0 ? Math.Min(snr, Gamma) / snr : 1,
            LossWeightingKind.P2 => Math.Pow(K + schedule.Snr[timestep], -Gamma),
            _ => throw new InvalidOperationException($"Unknown weighting {Kind}."),
        };
    }

    /// <summary>Writes w_t for every training timestep t = 0 … T−1 into <paramref name="destination"/> (length T).</summary>
    public void Weights(NoiseSchedule schedule, Span<double> destination)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        if (destination.Length != schedule.NumTrainTimesteps)
            throw new ArgumentException($"Need one weight per training timestep ({schedule.NumTrainTimesteps}), got {destination.Length}.", nameof(destination));
        for (var t = 0; t < destination.Length; t++) destination[t] = Weight(schedule, t);
    }

    /// <summary>w_t for every training timestep, in a new array.</summary>
    public double[] Weights(NoiseSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        var weights = new double[schedule.NumTrainTimesteps];
        Weights(schedule, weights);
        return weights;
    }

    /// <summary>A short label: <c>uniform</c>, <c>VLB</c>, <c>min-SNR-5</c>, <c>P2(k=1, γ=1)</c>.</summary>
    public override string ToString() => Kind switch
    {
        LossWeightingKind.Uniform => "uniform",
        LossWeightingKind.VariationalBound => "VLB",
        LossWeightingKind.MinSnr => FormattableString.Invariant($"min-SNR-{Gamma:G4}"),
        LossWeightingKind.P2 => FormattableString.Invariant($"P2(k={K:G4}, γ={Gamma:G4})"),
        _ => Kind.ToString(),
    };

    // β_t² / (2 β̃_t α_t (1 − ᾱ_t)), Ho et al. 2020 eq. 12 with σ_t² = β̃_t; β̃_0 = 0, so t = 0 uses β̃_1.
    private static double VariationalBoundWeight(NoiseSchedule schedule, int t)
    {
        if (schedule.NumTrainTimesteps < 2)
            throw new ArgumentException("The variational-bound weight needs at least two training timesteps (β̃ is 0 at the first).", nameof(schedule));
        var posteriorVariance = schedule.PosteriorVariance[t == 0 ? 1 : t];
        var beta = schedule.Betas[t];
        return beta * beta / (2 * posteriorVariance * schedule.Alphas[t] * (1 - schedule.AlphasCumprod[t]));
    }
}
