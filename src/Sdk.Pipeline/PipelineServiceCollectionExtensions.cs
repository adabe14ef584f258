using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the generation pipeline.</summary>
public static class PipelineServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="DiffusionPipeline"/> as a singleton over the registered <see cref="Diffusion.Sdk.Abstractions.IDiffusionModel"/>
    /// (register one, e.g. with <c>AddOnnxModel</c>). The pipeline is thread-safe.
    /// </summary>
    public static IDiffusionBuilder AddDiffusionPipeline(this IDiffusionBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton<DiffusionPipeline>();
        return builder;
    }
}
