using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The β defaults of the reference classes that do not use the common linear 0.0001 … 0.02: a configuration that
/// leaves a β key out gets the class's own value, as the reference's <c>from_config</c> does
/// (<see cref="SchedulerConfig.WithBetaDefaults"/>).
/// </summary>
public static class ClassBetaDefaults
{
    /// <summary>β at the first training timestep of the Stable Diffusion schedule (0.00085).</summary>
    public const double StableDiffusionBetaStart = 0.00085;

    /// <summary>β at the last training timestep of the Stable Diffusion schedule (0.012).</summary>
    public const double StableDiffusionBetaEnd = 0.012;

    /// <summary><c>HeunDiscreteScheduler</c>, <c>KDPM2DiscreteScheduler</c>, <c>KDPM2AncestralDiscreteScheduler</c>, <c>DPMSolverSDEScheduler</c>: linear 0.00085 … 0.012.</summary>
    public static SchedulerConfig KDiffusion(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.WithBetaDefaults(StableDiffusionBetaStart, StableDiffusionBetaEnd, BetaSchedule.Linear);
    }

    /// <summary><c>LCMScheduler</c> and <c>TCDScheduler</c>: scaled_linear 0.00085 … 0.012.</summary>
    public static SchedulerConfig Consistency(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.WithBetaDefaults(StableDiffusionBetaStart, StableDiffusionBetaEnd, BetaSchedule.ScaledLinear);
    }
}
