using Diffusion.Configuration;

namespace Diffusion.Scheduling;

/// <summary>How a σ-space sampler chooses its noise levels σ_0 &gt; … &gt; σ_{n−1} for a count-based schedule.</summary>
public enum SigmaSpacing
{
    /// <summary>σ at each timestep of the configured <c>timestep_spacing</c> (the default).</summary>
    Timesteps,

    /// <summary>Karras et al. 2022, eq. 5 (<c>use_karras_sigmas</c>): dense at low noise.</summary>
    Karras,

    /// <summary>Evenly spaced in log σ (<c>use_exponential_sigmas</c>).</summary>
    Exponential,

    /// <summary>Quantiles of a Beta(0.6, 0.6) distribution (<c>use_beta_sigmas</c>, Lee et al. 2024): dense at both ends.</summary>
    Beta,
}

/// <summary>Reads the σ spacing from a configuration's three keys.</summary>
public static class SigmaSpacings
{
    /// <summary>
    /// <c>use_karras_sigmas</c>, <c>use_exponential_sigmas</c> or <c>use_beta_sigmas</c>, whichever is true, else
    /// <see cref="SigmaSpacing.Timesteps"/>; throws <see cref="SchedulerConfigException"/> when more than one is true.
    /// </summary>
    public static SigmaSpacing FromConfig(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        bool karras = config.UseKarrasSigmas ?? false, exponential = config.UseExponentialSigmas ?? false, beta = config.UseBetaSigmas ?? false;
        if ((karras ? 1 : 0) + (exponential ? 1 : 0) + (beta ? 1 : 0) > 1)
            throw new SchedulerConfigException(beta ? "use_beta_sigmas" : "use_exponential_sigmas", "true",
                "false: use_karras_sigmas, use_exponential_sigmas and use_beta_sigmas each choose the σ spacing, so at most one may be true");
        return karras ? SigmaSpacing.Karras : exponential ? SigmaSpacing.Exponential : beta ? SigmaSpacing.Beta : SigmaSpacing.Timesteps;
    }
}

/// <summary>
/// One network evaluation of a <see cref="SigmaSchedulerBase"/> sampler, as its update sees it: the current sample,
/// the denoised prediction x̂₀ = D(x; σ) at the evaluation's noise level, and where the evaluation sits in the σ table.
/// A run steps through intervals σ_i → σ_{i+1}; samplers with two evaluations per interval (Heun, KDPM2) see each
/// interval twice, first at σ_i and then at <see cref="SecondSigma"/>.
/// </summary>
public readonly ref struct SigmaStep
{
    /// <summary>The current sample x (variance-exploding view); may be the same memory as <see cref="Destination"/>.</summary>
    public ReadOnlySpan<float> Sample { get; init; }

    /// <summary>x̂₀ = D(x; <see cref="Sigma"/>), from the network output and the configured prediction type.</summary>
    public ReadOnlySpan<float> Denoised { get; init; }

    /// <summary>Receives the next sample.</summary>
    public Span<float> Destination { get; init; }

    /// <summary>
    /// Two-evaluation samplers: the sample at σ_i, where the interval started (kept by the base on the first
    /// evaluation, so the second may rebuild from it whatever the caller did with its buffers); empty otherwise.
    /// </summary>
    public ReadOnlySpan<float> IntervalStart { get; init; }

    /// <summary>The position of this evaluation in the run (0 for the first call).</summary>
    public int CallIndex { get; init; }

    /// <summary>i: the interval this evaluation belongs to (σ_i → σ_{i+1}).</summary>
    public int Interval { get; init; }

    /// <summary>Whether this is the second evaluation of its interval.</summary>
    public bool IsSecondEvaluation { get; init; }

    /// <summary>The noise level the network was evaluated at: σ_i, or <see cref="SecondSigma"/> on the second evaluation.</summary>
    public float Sigma { get; init; }

    /// <summary>σ_i, where the interval starts.</summary>
    public float SigmaFrom { get; init; }

    /// <summary>σ_{i+1}, where the interval ends (0 at the end of the run, or σ_min).</summary>
    public float SigmaTo { get; init; }

    /// <summary>Where the interval's second evaluation is (or was) made; NaN for an interval with a single evaluation.</summary>
    public float SecondSigma { get; init; }

    /// <summary>Whether this interval has a second evaluation (two-evaluation samplers, every interval but the one ending at σ = 0).</summary>
    public bool HasSecondEvaluation => !float.IsNaN(SecondSigma);
}
