using Diffusion.Plugins;
using Diffusion.Scheduling;

namespace HeunSampler;

/// <summary>
/// The plugin's entry type: the host finds it when it loads HeunSampler.dll from a plugin folder
/// (<c>AddPluginsFrom(folder)</c>) and calls <see cref="Register"/> once.
/// </summary>
public sealed class HeunPlugin : ISamplerPlugin
{
    /// <summary>Registers <c>heun</c>, which a <c>scheduler_config.json</c> with <c>"_class_name": "HeunDiscreteScheduler"</c> also selects.</summary>
    public void Register(IDiffusionBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddSampler(new SamplerRegistration(HeunScheduler.SamplerName, (config, _) => new HeunScheduler(config), HeunScheduler.ReferenceClassName));
    }
}
