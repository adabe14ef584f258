using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.FlowMatch;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the flow-matching samplers.</summary>
public static class FlowMatchServiceCollectionExtensions
{
    private static readonly string[] ScheduleKeys =
    [
        "shift", "use_dynamic_shifting", "time_shift_type", "shift_terminal", "invert_sigmas", "base_shift", "max_shift",
        "base_image_seq_len", "max_image_seq_len", "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas",
    ];

    /// <summary>Makes the <c>flow-euler</c> sampler (reference class FlowMatchEulerDiscreteScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddFlowMatchEulerSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.FlowMatchEuler, "FlowMatchEulerDiscreteScheduler", config => new FlowMatchEulerSampler(config),
            [.. ScheduleKeys, "stochastic_sampling"]);

    /// <summary>Makes the <c>flow-heun</c> sampler (reference class FlowMatchHeunDiscreteScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddFlowMatchHeunSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.FlowMatchHeun, "FlowMatchHeunDiscreteScheduler", config => new FlowMatchHeunSampler(config),
            ["shift", "s_churn", "s_tmin", "s_tmax", "s_noise"]);

    /// <summary>Makes the <c>flow-lcm</c> sampler (reference class FlowMatchLCMScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddFlowMatchLcmSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.FlowMatchLcm, "FlowMatchLCMScheduler", config => new FlowMatchLcmSampler(config), ScheduleKeys);
}
