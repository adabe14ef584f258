using Diffusion.Configuration;

namespace Diffusion.Scheduling;

/// <summary>Creates configured samplers by name or from a <c>scheduler_config.json</c>. Thread-safe; every call returns a new instance.</summary>
public interface ISamplerFactory
{
    /// <summary>The registered sampler names, sorted.</summary>
    IReadOnlyList<string> Names { get; }

    /// <summary>Creates the sampler registered as <paramref name="name"/> with <paramref name="config"/> (defaults when null).</summary>
    /// <exception cref="UnknownSamplerException">No sampler has that name.</exception>
    /// <exception cref="SchedulerConfigException">The configuration is invalid for it.</exception>
    IScheduler Create(string name, SchedulerConfig? config = null);

    /// <summary>Creates the sampler that <see cref="SchedulerConfig.ClassName"/> names (<c>_class_name</c>).</summary>
    /// <exception cref="SchedulerConfigException">The configuration names no class, or an unknown one.</exception>
    IScheduler Create(SchedulerConfig config);

    /// <summary>
    /// Reads a <c>scheduler_config.json</c> and creates the sampler it names, or <paramref name="name"/> when given
    /// (the file then supplies only the schedule and options, as when swapping samplers on a pretrained model).
    /// </summary>
    IScheduler CreateFromFile(string path, string? name = null);

    /// <summary>
    /// Creates the sampler <see cref="SamplingOptions.SchedulerType"/> names, configured by the options, with the
    /// wrappers they ask for (built-in and registered ones) applied in their fixed order (<see cref="Wrappers.BuiltInWrapperOrder"/>).
    /// Timesteps are not set yet: call <see cref="IScheduler.SetTimesteps(int)"/> with <see cref="SamplingOptions.NumInferenceSteps"/>.
    /// </summary>
    /// <exception cref="SchedulerConfigException">A field is invalid; the message names it.</exception>
    IScheduler Create(SamplingOptions options);
}
