using Diffusion.Sdk.Abstractions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers every built-in sampler family: the one place that lists them.</summary>
public static class BuiltInSamplersServiceCollectionExtensions
{
    /// <summary>
    /// Makes every built-in sampler available to the sampler factory, each by its name and its reference class, so
    /// that any export's <c>scheduler_config.json</c> finds its own: <c>services.AddBuiltInSamplers().AddStableDiffusion(folder)</c>.
    /// A new built-in sampler family adds one line here.
    /// </summary>
    public static IDiffusionBuilder AddBuiltInSamplers(this IDiffusionBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder
            .AddDdpmSampler().AddDdimSampler().AddPndmSampler()
            .AddDpmSolverSampler().AddDpmSolverSinglestepSampler()
            .AddEulerSampler().AddEulerAncestralSampler()
            .AddHeunSampler().AddKdpm2Sampler().AddKdpm2AncestralSampler()
            .AddLmsSampler().AddUniPcSampler().AddDeisSampler()
            .AddLcmSampler().AddTcdSampler()
            .AddDpmAdaptiveSampler()
            .AddIpndmSampler().AddDdimInverseSampler()
            .AddFlowMatchEulerSampler().AddFlowMatchHeunSampler().AddFlowMatchLcmSampler()
            .AddEdmEulerSampler().AddEdmDpmSolverSampler()
            .AddDpmSolverSdeSampler().AddDpmSolverInverseSampler().AddSaSolverSampler();
    }

    /// <summary>The sampling host (<c>AddDiffusionSampling()</c>) with every built-in sampler.</summary>
    public static IDiffusionBuilder AddBuiltInSamplers(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services.AddDiffusionSampling().AddBuiltInSamplers();
    }
}
