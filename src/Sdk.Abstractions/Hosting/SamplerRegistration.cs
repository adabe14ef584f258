
namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// One sampler the host can create: its name, the reference class name it answers to, and how to build an
/// instance from a configuration. Sampler assemblies and plugins add these through <see cref="IDiffusionBuilder"/>.
/// </summary>
/// <param name="Name">The sampler name users ask for, e.g. <c>ddim</c> (case-insensitive).</param>
/// <param name="Create">Builds a new, independent instance from a configuration and the host's services.</param>
/// <param name="ClassName">The reference <c>_class_name</c> that selects this sampler, if any (e.g. <c>DDIMScheduler</c>).</param>
public sealed record SamplerRegistration(string Name, Func<SchedulerConfig, IServiceProvider, ISampler> Create, string? ClassName = null)
{
    /// <summary>Where the registration came from: the assembly or plugin file, used in error messages.</summary>
    public string Source { get; init; } = "(host)";

    /// <summary>
    /// The <c>scheduler_config.json</c> keys the sampler reads beyond the schedule's own (<c>num_train_timesteps</c>,
    /// the betas, <c>prediction_type</c>, <c>timestep_spacing</c>, <c>steps_offset</c>, <c>rescale_betas_zero_snr</c>),
    /// e.g. <c>eta</c> or <c>use_karras_sigmas</c>. The factory applies Karras spacing and thresholding through
    /// their wrappers for a sampler that does not read those keys, and warns about any other option a request sets
    /// that the sampler does not read. Null (undeclared): the sampler reads only the schedule's keys.
    /// </summary>
    public IReadOnlyCollection<string>? ConfigKeys { get; init; }

    /// <summary>Whether the sampler reads <paramref name="key"/> itself.</summary>
    public bool Reads(string key) => ConfigKeys?.Contains(key) == true;
}
