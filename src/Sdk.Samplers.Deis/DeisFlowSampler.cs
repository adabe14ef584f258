using System.Globalization;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Samplers.Deis;

/// <summary>
/// DEIS on flow σ (<c>use_flow_sigmas</c>), created by the registered factory for such configurations
/// so that the pipeline treats it as a flow-matching sampler (<see cref="IFlowMatchingSampler"/>): μ when timesteps are
/// set, flow add-noise. As the reference, the schedule comes from a step count only.
/// </summary>
public sealed class DeisFlowSampler : DeisSampler, IFlowMatchingSampler
{
    /// <summary>Creates the sampler; <c>use_flow_sigmas</c> must be true.</summary>
    public DeisFlowSampler(SchedulerConfig config) : base(config)
    {
        if (!UsesFlowSigmas) throw new SchedulerConfigException("use_flow_sigmas", "false", "true for the flow form of deis (or create DeisSampler)");
    }

    /// <inheritdoc/>
    public bool UsesDynamicShifting => Config.UseDynamicShifting == true;

    /// <inheritdoc/>
    public void SetTimesteps(int numInferenceSteps, double? mu)
    {
        UseMu(mu);
        SetTimesteps(numInferenceSteps);
    }

    /// <inheritdoc/>
    /// <remarks>Refused: the flow schedule is made from a step count.</remarks>
    public void SetSigmas(IReadOnlyList<double> sigmas, double? mu = null) =>
        throw new SchedulerConfigException("sigmas", "an explicit list", "a step count: the flow form of deis makes its σ from the count");

    /// <inheritdoc/>
    /// <remarks>Refused, as <see cref="SetSigmas(IReadOnlyList{double}, double?)"/>.</remarks>
    public void SetTimesteps(IReadOnlyList<double> timesteps, double? mu) =>
        throw new SchedulerConfigException("timesteps", string.Create(CultureInfo.InvariantCulture, $"a list of {timesteps?.Count ?? 0}"), "a step count: the flow form of deis makes its σ from the count");
}
