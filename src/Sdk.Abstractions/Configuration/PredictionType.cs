namespace Diffusion.Sdk.Abstractions;

/// <summary>What the denoising network predicts (<c>prediction_type</c>).</summary>
public enum PredictionType
{
    /// <summary>The added noise ε (<c>epsilon</c>).</summary>
    Epsilon,
    /// <summary>The clean sample x₀ (<c>sample</c>).</summary>
    Sample,
    /// <summary>The velocity v = √ᾱ·ε − √(1−ᾱ)·x₀ (<c>v_prediction</c>), Salimans &amp; Ho 2022.</summary>
    VPrediction,
    /// <summary>
    /// The flow velocity v = ε − x₀ of a model trained by flow matching, read by the σ-table samplers that offer flow σ
    /// (<c>flow_prediction</c>, with <c>use_flow_sigmas</c>): x₀ = x_t − σ·v. Samplers without flow σ refuse it.
    /// </summary>
    FlowPrediction,
}

/// <summary>How β_t grows over the training timesteps (<c>beta_schedule</c>).</summary>
public enum BetaSchedule
{
    /// <summary>β linear from beta_start to beta_end (<c>linear</c>), Ho et al. 2020.</summary>
    Linear,
    /// <summary>√β linear, then squared (<c>scaled_linear</c>), as latent diffusion models use.</summary>
    ScaledLinear,
    /// <summary>The cosine ᾱ schedule with s = 0.008, β capped at 0.999 (<c>squaredcos_cap_v2</c>), Nichol &amp; Dhariwal 2021.</summary>
    SquaredCosCapV2,
    /// <summary>β = sigmoid(linspace(−6, 6))·(beta_end − beta_start) + beta_start (<c>sigmoid</c>).</summary>
    Sigmoid,
    /// <summary>β = beta_start + (beta_end − beta_start)·(i/(T−1))² (<c>quadratic</c>): slow start, fast end.</summary>
    Quadratic,
    /// <summary>β geometric from beta_start to beta_end: beta_start·(beta_end/beta_start)^(i/(T−1)) (<c>exponential</c>).</summary>
    Exponential,
}

/// <summary>How inference timesteps are spread over the training range (<c>timestep_spacing</c>), see "Common Diffusion Noise Schedules and Sample Steps are Flawed", table 2.</summary>
public enum TimestepSpacing
{
    /// <summary>Evenly spaced from T−1 down to 0, rounded (<c>linspace</c>).</summary>
    Linspace,
    /// <summary>Multiples of T // n starting at 0, plus steps_offset (<c>leading</c>).</summary>
    Leading,
    /// <summary>Evenly spaced down from T, minus one, so the first step is T−1 (<c>trailing</c>).</summary>
    Trailing,
}

/// <summary>The variance of DDPM's reverse step (<c>variance_type</c>).</summary>
public enum VarianceType
{
    /// <summary>The posterior variance β̃_t, clipped at 1e-20 (<c>fixed_small</c>).</summary>
    FixedSmall,
    /// <summary>The posterior variance through its clipped logarithm (<c>fixed_small_log</c>).</summary>
    FixedSmallLog,
    /// <summary>β_t (<c>fixed_large</c>).</summary>
    FixedLarge,
    /// <summary>β_t through its logarithm (<c>fixed_large_log</c>).</summary>
    FixedLargeLog,
    /// <summary>The network predicts the variance in extra output channels (<c>learned</c>).</summary>
    Learned,
    /// <summary>The network predicts an interpolation between the small and large log variances (<c>learned_range</c>).</summary>
    LearnedRange,
}
