namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// A published step schedule that replaces the sampler's own spacing (<c>timestep_spacing</c> and its σ options) for
/// a request (<see cref="SamplingOptions.Spacing"/>).
/// </summary>
public enum StepSpacing
{
    /// <summary>
    /// Align Your Steps (Sabour et al. 2024): the published schedule of the model family
    /// (<see cref="SamplingOptions.AlignYourStepsModel"/>), log-linearly interpolated to the step count. A sampler that
    /// takes explicit noise levels (<see cref="ISigmaSampler"/>) runs on the σ list, any other on the timestep list.
    /// </summary>
    AlignYourSteps,

    /// <summary>Align Your Steps, always as the σ list (the sampler must take explicit noise levels).</summary>
    AlignYourStepsSigmas,

    /// <summary>Align Your Steps, always as the timestep list (the sampler must take explicit timesteps).</summary>
    AlignYourStepsTimesteps,
}

/// <summary>Which model family's Align Your Steps schedule a request uses (the paper optimized one per model).</summary>
public enum AlignYourStepsModel
{
    /// <summary>Stable Diffusion 1.x and 2.x.</summary>
    StableDiffusion,

    /// <summary>Stable Diffusion XL.</summary>
    StableDiffusionXL,

    /// <summary>Stable Video Diffusion (an EDM-type σ scale; published as a σ list only).</summary>
    StableVideoDiffusion,
}
