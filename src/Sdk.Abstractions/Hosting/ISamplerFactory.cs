
namespace Diffusion.Sdk.Abstractions;

/// <summary>Creates configured samplers by name or from a <c>scheduler_config.json</c>. Thread-safe; every call returns a new instance.</summary>
public interface ISamplerFactory
{
    /// <summary>The registered sampler names, sorted.</summary>
    IReadOnlyList<string> Names { get; }

    /// <summary>Creates the sampler registered as <paramref name="name"/> with <paramref name="config"/> (defaults when null).</summary>
    /// <exception cref="UnknownSamplerException">No sampler has that name.</exception>
    /// <exception cref="SchedulerConfigException">The configuration is invalid for it.</exception>
    ISampler Create(string name, SchedulerConfig? config = null);

    /// <summary>Creates the sampler that <see cref="SchedulerConfig.ClassName"/> names (<c>_class_name</c>).</summary>
    /// <exception cref="SchedulerConfigException">The configuration names no class, or an unknown one.</exception>
    ISampler Create(SchedulerConfig config);

    /// <summary>
    /// Reads a <c>scheduler_config.json</c> and creates the sampler it names, or <paramref name="name"/> when given
    /// (the file then supplies only the schedule and options, as when swapping samplers on a pretrained model).
    /// </summary>
    ISampler CreateFromFile(string path, string? name = null);

    /// <summary>
    /// The one path from configuration to sampler: lays the request's overrides over the model's configuration
    /// (<see cref="SamplingOptions.ApplyTo"/>), picks the sampler (the one the options name, else the class of the
    /// model's <c>_class_name</c> through the registry, plugins included, else <c>ddim</c> with a logged warning),
    /// and applies the wrappers in their fixed order (<see cref="Diffusion.Sdk.Abstractions.BuiltInWrapperOrder"/>): Karras spacing and
    /// thresholding through the sampler's own implementation where its registration declares the key, else through
    /// their wrappers. An option the request sets that the sampler does not read is logged as a warning naming it.
    /// Timesteps are not set yet: call <see cref="ISampler.SetTimesteps(int)"/> with <see cref="SamplingOptions.Steps"/>.
    /// </summary>
    /// <param name="options">The request's sampler, steps, wrappers and overrides.</param>
    /// <param name="modelConfig">The model's own <c>scheduler_config.json</c>, or null for the reference's defaults.</param>
    /// <exception cref="SamplingOptionException">An option is out of range; the message names it.</exception>
    /// <exception cref="SchedulerConfigException">The resulting configuration is invalid for the sampler; the message names the key.</exception>
    /// <exception cref="UnknownSamplerException">The options name a sampler nobody registered.</exception>
    ISampler Create(SamplingOptions options, SchedulerConfig? modelConfig = null);

    /// <summary>The name of the sampler <see cref="Create(SamplingOptions, SchedulerConfig?)"/> would create, without creating it.</summary>
    string ResolveName(SamplingOptions options, SchedulerConfig? modelConfig = null);
}
