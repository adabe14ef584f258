using Diffusion.Sdk.Abstractions;
namespace Diffusion.Sdk.Sampling;

/// <summary>
/// One network evaluation of a <see cref="SigmaSamplerBase"/> sampler, as its update sees it: the current sample,
/// the denoised prediction x̂₀ = D(x; σ) at the evaluation's noise level, and where the evaluation sits in the σ table.
/// A run steps through intervals σ_i → σ_{i+1}; samplers with two evaluations per interval (Heun, KDPM2) see each
/// interval twice, first at σ_i and then at <see cref="SecondSigma"/>.
/// </summary>
public readonly ref struct SigmaStep
{
    /// <summary>The current sample x (variance-exploding view); may be the same memory as <see cref="Destination"/>.</summary>
    public ReadOnlySpan<float> Sample { get; init; }

    /// <summary>
    /// x̂₀ = D(x; <see cref="Sigma"/>), from the network output and the configured prediction type; empty when the
    /// sampler takes ε directly (<see cref="SigmaSamplerBase.AdvancesFromEpsilon"/>), and then <see cref="ModelOutput"/> is ε.
    /// </summary>
    public ReadOnlySpan<float> Denoised { get; init; }

    /// <summary>
    /// A CFG++ step's unconditional x̂₀ᵘ = D_uncond(x; <see cref="Sigma"/>), from <see cref="StepInput.UnconditionalOutput"/>
    /// (<see cref="Denoised"/> is then the guided one); empty in every other step.
    /// </summary>
    public ReadOnlySpan<float> UnconditionalDenoised { get; init; }

    /// <summary>Whether this is a CFG++ step (<see cref="UnconditionalDenoised"/> is given).</summary>
    public bool IsCfgPlusPlus => !UnconditionalDenoised.IsEmpty;

    /// <summary>The network's output for this evaluation, as the caller passed it.</summary>
    public ReadOnlySpan<float> ModelOutput { get; init; }

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
