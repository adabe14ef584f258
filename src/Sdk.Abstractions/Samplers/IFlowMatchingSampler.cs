namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// A flow-matching (rectified-flow) sampler: the sample is x = (1 − σ)·x₀ + σ·ε with σ from 1 (noise) to 0 (data), the
/// network predicts the velocity v = ε − x₀ (so x₀ = x − σ·v), whatever <see cref="SchedulerConfig.PredictionType"/>
/// says, and the timestep it sees is σ·num_train_timesteps. The network input is the sample itself
/// (<see cref="ISampler.ScaleModelInput"/> copies it) and the initial noise is unscaled (<see cref="ISampler.InitNoiseSigma"/> = 1);
/// <see cref="ISampler.AddNoise"/> is the flow's forward process σ·ε + (1 − σ)·x₀ (the reference's <c>scale_noise</c>).
/// </summary>
/// <remarks>
/// Models trained with a resolution-dependent shift (<c>use_dynamic_shifting</c>) need μ when timesteps are set:
/// <see cref="SetTimesteps(int, double?)"/> takes it; the plain <see cref="ISampler.SetTimesteps(int)"/> then refuses with a
/// <see cref="SchedulerConfigException"/>. <c>FlowShift.Mu</c> (Diffusion.Sdk.Sampling) computes μ from the image size
/// as the reference's pipelines do.
/// </remarks>
public interface IFlowMatchingSampler : ISampler
{
    /// <summary>The flow σ ∈ [0, 1] of each timestep of <see cref="ISampler.Timesteps"/>, then the final σ (0, or 1 with <c>invert_sigmas</c>).</summary>
    IReadOnlyList<double> Sigmas { get; }

    /// <summary>Whether timesteps need μ (<c>use_dynamic_shifting</c>).</summary>
    bool UsesDynamicShifting { get; }

    /// <summary>Chooses <paramref name="numInferenceSteps"/> timesteps, shifted by <paramref name="mu"/> under dynamic shifting, and resets all state.</summary>
    /// <exception cref="SchedulerConfigException">The count is below 1 or above the training timesteps, or μ is missing under dynamic shifting.</exception>
    void SetTimesteps(int numInferenceSteps, double? mu);

    /// <summary>
    /// Runs on an explicit σ list (descending, in (0, 1]; one per step, without the final σ), which the sampler shifts as it
    /// shifts its own (by <paramref name="mu"/> under dynamic shifting), and resets all state.
    /// </summary>
    /// <exception cref="SchedulerConfigException">The list is empty, not descending, or outside (0, 1]; or μ is missing under dynamic shifting.</exception>
    void SetSigmas(IReadOnlyList<double> sigmas, double? mu = null);

    /// <summary>Runs on an explicit timestep list (descending, in (0, num_train_timesteps]), σ = t/num_train_timesteps then shifted, and resets all state.</summary>
    /// <exception cref="SchedulerConfigException">The list is empty, not descending, or out of range; or μ is missing under dynamic shifting.</exception>
    void SetTimesteps(IReadOnlyList<double> timesteps, double? mu);
}
