
namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// The entry type of a sampler plugin assembly: a public class with a parameterless constructor that registers the
/// plugin's samplers. The host finds it when it loads the assembly from a plugin folder.
/// </summary>
public interface ISamplerPlugin
{
    /// <summary>Registers the plugin's samplers (and any services they need) with the host.</summary>
    void Register(IDiffusionBuilder builder);
}
