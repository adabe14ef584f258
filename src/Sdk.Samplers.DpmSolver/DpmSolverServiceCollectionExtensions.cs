using Diffusion.Configuration;
using Diffusion.Samplers.DpmSolver;
using Diffusion.Scheduling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the multistep DPM-Solver sampler.</summary>
public static class DpmSolverServiceCollectionExtensions
{
    /// <summary>Makes the <c>dpm-solver</c> sampler (reference class DPMSolverMultistepScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddDpmSolverSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.DpmSolver, "DPMSolverMultistepScheduler", config => new DpmSolverScheduler(config));
}
