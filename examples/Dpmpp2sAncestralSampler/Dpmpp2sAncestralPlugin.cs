using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk;
using Diffusion.Sdk.Sampling;

namespace Dpmpp2sAncestralSampler;

/// <summary>
/// The plugin's entry type: the host finds it when it loads Dpmpp2sAncestralSampler.dll from a plugin folder
/// (<c>AddPluginsFrom(folder)</c>) and calls <see cref="Register"/> once.
/// </summary>
public sealed class Dpmpp2sAncestralPlugin : ISamplerPlugin
{
    /// <summary>Registers <c>dpmpp-2s-ancestral</c> (no reference class name: the reference library has no such scheduler class).</summary>
    public void Register(IDiffusionBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddSampler(new SamplerRegistration(Dpmpp2sAncestralSampler.SamplerName, (config, _) => new Dpmpp2sAncestralSampler(config))
        {
            ConfigKeys = ["use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "sigma_min", "sigma_max"],
        });
    }
}
