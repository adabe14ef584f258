using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Edm;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the EDM samplers.</summary>
public static class EdmServiceCollectionExtensions
{
    private static readonly string[] EdmKeys = ["sigma_min", "sigma_max", "sigma_data", "sigma_schedule", "rho", "final_sigmas_type"];

    /// <summary>Makes the <c>edm-euler</c> sampler (reference class EDMEulerScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddEdmEulerSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.EdmEuler, "EDMEulerScheduler", config => new EdmEulerSampler(config),
            [.. EdmKeys, "s_churn", "s_tmin", "s_tmax", "s_noise"]);

    /// <summary>Makes the <c>edm-dpm-solver</c> sampler (reference class EDMDPMSolverMultistepScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddEdmDpmSolverSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.EdmDpmSolver, "EDMDPMSolverMultistepScheduler", config => new EdmDpmSolverSampler(config),
            [.. EdmKeys, "solver_order", "algorithm_type", "solver_type", "lower_order_final", "euler_at_final", "thresholding", "dynamic_thresholding_ratio", "sample_max_value"]);
}
