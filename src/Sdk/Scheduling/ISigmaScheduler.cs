namespace Diffusion.Scheduling;

/// <summary>
/// A sampler that works on the noise levels σ of the variance-exploding view x/√ᾱ (Karras et al. 2022),
/// such as Euler or DPM-Solver: it exposes its σ table so callers (and wrappers) can inspect or replace the spacing.
/// </summary>
public interface ISigmaScheduler : IScheduler
{
    /// <summary>σ for each timestep of <see cref="IScheduler.Timesteps"/>, followed by the final σ (0 or σ_min).</summary>
    IReadOnlyList<double> Sigmas { get; }
}
