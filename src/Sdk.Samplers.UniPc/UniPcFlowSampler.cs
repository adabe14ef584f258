using System.Globalization;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Samplers.UniPc;

/// <summary>
/// UniPC on flow σ (<c>use_flow_sigmas</c>): x = (1 − σ)·x₀ + σ·ε, the shifted flow schedule (<c>flow_shift</c>, or μ with
/// <c>use_dynamic_shifting</c>, and <c>shift_terminal</c>), explicit flow σ lists, <c>flow_prediction</c> models and the
/// forward process of flow matching. The registered factory creates it for such configurations, so that the pipeline
/// treats it as a flow-matching sampler (<see cref="IFlowMatchingSampler"/>).
/// </summary>
public sealed class UniPcFlowSampler : UniPcSampler, IFlowMatchingSampler
{
    /// <summary>Creates the sampler; <c>use_flow_sigmas</c> must be true.</summary>
    public UniPcFlowSampler(SchedulerConfig config) : base(config)
    {
        if (!UsesFlowSigmas) throw new SchedulerConfigException("use_flow_sigmas", "false", "true for the flow form of unipc (or create UniPcSampler)");
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
    /// <remarks>The list is shifted as a count-based one is (the reference's flow branch takes it in place of its linspace).</remarks>
    public void SetSigmas(IReadOnlyList<double> sigmas, double? mu = null)
    {
        ArgumentNullException.ThrowIfNull(sigmas);
        if (sigmas.Count == 0) throw new SchedulerConfigException("sigmas", "an empty list", "at least one flow σ in (0, 1]");
        for (var i = 0; i < sigmas.Count; i++)
            if (!(sigmas[i] > 0 && sigmas[i] <= 1))
                throw new SchedulerConfigException($"sigmas[{i}]", sigmas[i].ToString("R", CultureInfo.InvariantCulture), "a flow σ in (0, 1]");
        UseMu(mu);
        ReplaceTimesteps(FlowSchedule(sigmas.Count, sigmas));
    }

    /// <inheritdoc/>
    /// <remarks>Refused: the reference's UniPC takes a count or a σ list, not timesteps.</remarks>
    public void SetTimesteps(IReadOnlyList<double> timesteps, double? mu) =>
        throw new SchedulerConfigException("timesteps", string.Create(CultureInfo.InvariantCulture, $"a list of {timesteps?.Count ?? 0}"), "a step count or a flow σ list (SetSigmas)");
}
