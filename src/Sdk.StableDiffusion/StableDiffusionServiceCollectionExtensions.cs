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
    /// One call for text to image: the sampling host with every built-in sampler, the Stable Diffusion folder at
    /// <paramref name="folder"/> as a singleton <see cref="StableDiffusionModel"/> (its sessions loaded once, on first
    /// use, and disposed with the container), the thread-safe <see cref="StableDiffusionPipeline"/>, and
    /// <see cref="IImageGenerator"/> (Microsoft.Extensions.AI) over it.
    /// <c>services.AddStableDiffusion("models/sd15", o => o.Onnx.ExecutionProvider = OnnxExecutionProvider.Auto)</c>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="folder">The exported pipeline folder.</param>
    /// <param name="configure">Sets the options in code; applied after any bound configuration.</param>
    public static IDiffusionBuilder AddStableDiffusion(this IServiceCollection services, string folder, Action<StableDiffusionOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        // Every built-in sampler: an export's scheduler_config.json selects one by its reference class (an LCM-distilled
        // export names LCMScheduler, others Euler's, Heun's or LMS's), and a request may name any of them.
        var builder = services.AddDiffusionSampling()
            .AddDdpmSampler().AddDdimSampler().AddPndmSampler().AddDpmSolverSampler().AddDpmSolverSinglestepSampler()
            .AddEulerSampler().AddEulerAncestralSampler().AddHeunSampler().AddKdpm2Sampler().AddKdpm2AncestralSampler()
            .AddLmsSampler().AddUniPcSampler().AddDeisSampler().AddLcmSampler().AddTcdSampler().AddDpmAdaptiveSampler();
        return builder.AddStableDiffusion(folder, configure);
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
        builder.Services.TryAddSingleton(provider => new StableDiffusionPipeline(provider.GetRequiredService<StableDiffusionModel>(),
            provider.GetRequiredService<ISamplerFactory>(), provider.GetService<ILogger<StableDiffusionPipeline>>()));
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
