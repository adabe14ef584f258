using Diffusion.Configuration;

namespace Diffusion.Scheduling;

/// <summary>
/// One sampler the host can create: its name, the reference class name it answers to, and how to build an
/// instance from a configuration. Sampler assemblies and plugins add these through <see cref="IDiffusionBuilder"/>.
/// </summary>
/// <param name="Name">The sampler name users ask for, e.g. <c>ddim</c> (case-insensitive).</param>
/// <param name="Create">Builds a new, independent instance from a configuration and the host's services.</param>
/// <param name="ClassName">The reference <c>_class_name</c> that selects this sampler, if any (e.g. <c>DDIMScheduler</c>).</param>
public sealed record SamplerRegistration(string Name, Func<SchedulerConfig, IServiceProvider, IScheduler> Create, string? ClassName = null)
{
    /// <summary>Where the registration came from: the assembly or plugin file, used in error messages.</summary>
    public string Source { get; init; } = "(host)";
}
