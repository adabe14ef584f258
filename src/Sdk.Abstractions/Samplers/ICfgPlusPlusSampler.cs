namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// A sampler that can take CFG++ steps ("CFG++: Manifold-constrained Classifier Free Guidance for Diffusion Models",
/// Chung et al. 2024, https://arxiv.org/abs/2406.08070): it denoises with the guided prediction x̂₀ of
/// ε_u + λ·(ε_c − ε_u) but re-noises with the unconditional prediction ε_u, so that each step stays near the data
/// manifold with a guidance scale λ in [0, 1]. An optional capability: the loop gives a step the unconditional output
/// (<see cref="StepInput.UnconditionalOutput"/>) only when the run uses CFG++ and the sampler implements this, so no
/// other sampler sees or pays for it.
/// </summary>
public interface ICfgPlusPlusSampler : ISampler
{
    /// <summary>
    /// Null when this sampler, as configured, takes CFG++ steps; otherwise why it cannot (for example a multistep order
    /// the method has no CFG++ form for), said so that the user knows what to change. Read once per run, before any work.
    /// </summary>
    string? CfgPlusPlusUnsupportedReason { get; }
}
