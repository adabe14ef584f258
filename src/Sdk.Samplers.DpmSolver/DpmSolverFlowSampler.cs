using System.Globalization;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Samplers.DpmSolver;

/// <summary>
/// Multistep DPM-Solver on flow σ (<c>use_flow_sigmas</c>): x = (1 − σ)·x₀ + σ·ε, the shifted flow schedule
/// (<c>flow_shift</c>, or e^μ with <c>use_dynamic_shifting</c>), <c>flow_prediction</c> models, and the forward process
/// of flow matching. The registered factory creates it for such configurations, so that the pipeline treats it as a
/// flow-matching sampler (<see cref="IFlowMatchingSampler"/>: μ when timesteps are set, flow add-noise, flow ᾱ).
/// </summary>
/// <remarks>
/// As the reference (DPMSolverMultistepScheduler with <c>use_flow_sigmas</c>), the schedule comes from the step count:
/// explicit timestep or σ lists are refused (the reference's flow branch recomputes σ from the count, which it then lacks).
/// </remarks>
public sealed class DpmSolverFlowSampler : DpmSolverSampler, IFlowMatchingSampler
{
    /// <summary>Creates the sampler; <c>use_flow_sigmas</c> must be true.</summary>
    public DpmSolverFlowSampler(SchedulerConfig config) : base(config)
    {
        if (!UsesFlowSigmas) throw new SchedulerConfigException("use_flow_sigmas", "false", "true for the flow form of dpm-solver (or create DpmSolverSampler)");
    }

    /// <inheritdoc/>
    public bool UsesDynamicShifting => Config.UseDynamicShifting == true;

    /// <summary>False: the flow schedule is made from a step count only.</summary>
    public override bool AcceptsExplicitTimesteps => false;

    /// <inheritdoc/>
    public void SetTimesteps(int numInferenceSteps, double? mu)
    {
        UseMu(mu);
        SetTimesteps(numInferenceSteps);
    }

    /// <inheritdoc/>
    /// <remarks>Refused: the reference's flow DPM-Solver takes no σ list.</remarks>
    public void SetSigmas(IReadOnlyList<double> sigmas, double? mu = null) =>
        throw new SchedulerConfigException("sigmas", "an explicit list", "a step count: the flow form of dpm-solver makes its σ from the count (use flow-euler or unipc for explicit flow σ)");

    /// <inheritdoc/>
    /// <remarks>Refused, as <see cref="SetSigmas(IReadOnlyList{double}, double?)"/>.</remarks>
    public void SetTimesteps(IReadOnlyList<double> timesteps, double? mu) =>
        throw new SchedulerConfigException("timesteps", string.Create(CultureInfo.InvariantCulture, $"a list of {timesteps?.Count ?? 0}"), "a step count: the flow form of dpm-solver makes its σ from the count");
}
