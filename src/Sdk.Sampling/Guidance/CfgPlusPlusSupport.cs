using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The one check of whether a run may use CFG++ (<see cref="SamplingOptions.CfgPlusPlus"/>): its sampler, below any
/// wrappers, must implement <see cref="ICfgPlusPlusSampler"/> and accept its configuration. Pipelines call it before any
/// work, and the loop once per run.
/// </summary>
public static class CfgPlusPlusSupport
{
    /// <summary>The built-in samplers that take CFG++ steps, for messages.</summary>
    public const string BuiltInSamplers = "euler, euler-ancestral, or dpm-solver with algorithm_type dpmsolver++ and solver_order 1 or 2";

    /// <summary>Throws <see cref="SamplingOptionException"/> (option <c>CfgPlusPlus</c>) when <paramref name="sampler"/> cannot take CFG++ steps.</summary>
    public static void Check(ISampler sampler)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        var inner = SamplerDecorator.Unwrap(sampler);
        var reason = inner is ICfgPlusPlusSampler capable
            ? capable.CfgPlusPlusUnsupportedReason
            : $"it has no CFG++ step; CFG++ runs with {BuiltInSamplers}";
        if (reason is not null)
            throw new SamplingOptionException(nameof(SamplingOptions.CfgPlusPlus), "true", $"false with the '{inner.Name}' sampler ({reason})");
    }
}
