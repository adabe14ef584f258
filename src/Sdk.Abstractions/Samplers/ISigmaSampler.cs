namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// A sampler that works on the noise levels σ of the variance-exploding view x/√ᾱ (Karras et al. 2022),
/// such as Euler or DPM-Solver: it exposes its σ table so callers (and wrappers) can inspect or replace the spacing.
/// </summary>
public interface ISigmaSampler : ISampler
{
    /// <summary>σ for each timestep of <see cref="ISampler.Timesteps"/>, followed by the final σ (0 or σ_min).</summary>
    IReadOnlyList<double> Sigmas { get; }

    /// <summary>The smallest noise level of the training schedule, as this sampler computes it (σ at t = 0).</summary>
    double SigmaMin { get; }

    /// <summary>The largest noise level of the training schedule, as this sampler computes it (σ at t = T−1).</summary>
    double SigmaMax { get; }

    /// <summary>
    /// Runs on an explicit, strictly descending list of noise levels (one per step, without the final σ, which the
    /// sampler's <c>final_sigmas_type</c> supplies); timesteps are derived from them. Resets all state of a previous run.
    /// </summary>
    /// <exception cref="SchedulerConfigException">The list is empty, not descending, or holds a value that is not positive and finite.</exception>
    void SetSigmas(IReadOnlyList<double> sigmas);
}
