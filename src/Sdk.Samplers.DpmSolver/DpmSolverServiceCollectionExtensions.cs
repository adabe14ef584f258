using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.DpmSolver;
using Diffusion.Sdk.Sampling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the DPM-Solver samplers (multistep, single-step, inversion) and SA-Solver, which shares their σ tables.</summary>
public static class DpmSolverServiceCollectionExtensions
{
    /// <summary>Makes the <c>dpm-solver</c> sampler (reference class DPMSolverMultistepScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddDpmSolverSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.DpmSolver, "DPMSolverMultistepScheduler", config => config.UseFlowSigmas == true ? new DpmSolverFlowSampler(config) : new DpmSolverSampler(config),
            ["solver_order", "algorithm_type", "solver_type", "lower_order_final", "euler_at_final", "use_karras_sigmas", "use_lu_lambdas", "use_exponential_sigmas", "use_beta_sigmas",
             "use_flow_sigmas", "flow_shift", "use_dynamic_shifting",
             "final_sigmas_type", "lambda_min_clipped", "sigma_min", "sigma_max", "thresholding", "dynamic_thresholding_ratio", "sample_max_value"]);

    /// <summary>Makes the <c>dpm-solver-singlestep</c> sampler (reference class DPMSolverSinglestepScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddDpmSolverSinglestepSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.DpmSolverSinglestep, "DPMSolverSinglestepScheduler", config => config.UseFlowSigmas == true ? new DpmSolverSinglestepFlowSampler(config) : new DpmSolverSinglestepSampler(config),
            ["solver_order", "algorithm_type", "solver_type", "lower_order_final", "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas",
             "use_flow_sigmas", "flow_shift", "use_dynamic_shifting",
             "final_sigmas_type", "lambda_min_clipped", "thresholding", "dynamic_thresholding_ratio", "sample_max_value"]);

    /// <summary>Makes the <c>dpm-solver-inverse</c> sampler (reference class DPMSolverMultistepInverseScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddDpmSolverInverseSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.DpmSolverInverse, "DPMSolverMultistepInverseScheduler", config => new DpmSolverInverseSampler(config),
            ["solver_order", "algorithm_type", "solver_type", "lower_order_final", "euler_at_final", "use_karras_sigmas", "use_exponential_sigmas",
             "use_beta_sigmas", "use_flow_sigmas", "flow_shift", "lambda_min_clipped", "thresholding", "dynamic_thresholding_ratio", "sample_max_value"]);

    /// <summary>Makes the <c>sa-solver</c> sampler (reference class SASolverScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddSaSolverSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.SaSolver, "SASolverScheduler", config => new SaSolverSampler(config),
            ["predictor_order", "corrector_order", "algorithm_type", "lower_order_final", "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas",
             "use_flow_sigmas", "flow_shift", "lambda_min_clipped", "sigma_min", "sigma_max", "thresholding", "dynamic_thresholding_ratio", "sample_max_value"]);
}
