using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.StableDiffusion;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a Stable Diffusion model and its pipeline with the host.</summary>
public static class StableDiffusionServiceCollectionExtensions
{
    /// <summary>
    /// The sampling host, the Stable Diffusion folder at <paramref name="folder"/> as a singleton
    /// <see cref="StableDiffusionModel"/> (its sessions loaded once, on first use, and disposed with the container; SD
    /// 1.x/2.x or SDXL, recognised from the files; an SDXL refiner from <see cref="StableDiffusionOptions.RefinerFolder"/>),
    /// the thread-safe <see cref="StableDiffusionPipeline"/>, and <see cref="IImageGenerator"/> (Microsoft.Extensions.AI)
    /// over it. Samplers are the app's choice: <c>services.AddBuiltInSamplers().AddStableDiffusion("models/sd15")</c>
    /// (package Diffusion.Sdk.Samplers) registers every built-in one, so the export's own scheduler class resolves.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="folder">The exported pipeline folder.</param>
    /// <param name="configure">Sets the options in code; applied after any bound configuration.</param>
    public static IDiffusionBuilder AddStableDiffusion(this IServiceCollection services, string folder, Action<StableDiffusionOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services.AddDiffusionSampling().AddStableDiffusion(folder, configure);
    }

    /// <summary>
    /// Adds the Stable Diffusion folder, pipeline and <see cref="IImageGenerator"/> to a host whose samplers are
    /// registered already (<c>services.AddDiffusionSampling().AddPndmSampler().AddStableDiffusion(folder)</c>).
    /// </summary>
    public static IDiffusionBuilder AddStableDiffusion(this IDiffusionBuilder builder, string folder, Action<StableDiffusionOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        var options = builder.Services.AddOptions<StableDiffusionOptions>();
        if (configure is not null) options.Configure(configure);
        builder.Services.TryAddSingleton(provider => StableDiffusionModel.Load(folder,
            provider.GetRequiredService<IOptions<StableDiffusionOptions>>().Value,
            provider.GetService<ILoggerFactory>()?.CreateLogger<StableDiffusionModel>()));
        // The refiner (StableDiffusionOptions.RefinerFolder) is its own model, held and disposed by the container.
        builder.Services.TryAddSingleton(provider =>
        {
            var o = provider.GetRequiredService<IOptions<StableDiffusionOptions>>().Value;
            return new StableDiffusionRefinerModel(o.RefinerFolder is null ? null
                : StableDiffusionModel.Load(o.RefinerFolder, new StableDiffusionOptions { Onnx = o.Onnx, VaeFolder = o.VaeFolder },
                    provider.GetService<ILoggerFactory>()?.CreateLogger<StableDiffusionModel>()));
        });
        builder.Services.TryAddSingleton(provider => new StableDiffusionPipeline(provider.GetRequiredService<StableDiffusionModel>(),
            provider.GetRequiredService<ISamplerFactory>(), provider.GetService<ILogger<StableDiffusionPipeline>>())
        {
            Refiner = provider.GetRequiredService<StableDiffusionRefinerModel>().Model,
        });
        builder.Services.TryAddSingleton<IImageGenerator>(provider => new StableDiffusionImageGenerator(provider.GetRequiredService<StableDiffusionPipeline>()));
        return builder;
    }

    /// <summary>As <see cref="AddStableDiffusion(IServiceCollection, string, Action{StableDiffusionOptions}?)"/>, with the options bound from <paramref name="section"/> (e.g. <c>configuration.GetSection("StableDiffusion")</c>).</summary>
    public static IDiffusionBuilder AddStableDiffusion(this IServiceCollection services, string folder, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<StableDiffusionOptions>().Bind(section);
        return services.AddStableDiffusion(folder);
    }
}
