
namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// A sampler wrapper the factory applies when it builds a sampler from <see cref="SamplingOptions"/>. Wrappers are
/// applied in ascending <see cref="Order"/>, innermost first; the built-in ones use the orders in <see cref="BuiltInWrapperOrder"/>.
/// </summary>
/// <param name="Name">A name for messages.</param>
/// <param name="Order">Position in the chain: lower wraps closer to the sampler.</param>
/// <param name="Wrap">Returns the wrapped sampler, or its argument unchanged when the options do not ask for this wrapper.</param>
public sealed record WrapperRegistration(string Name, int Order, Func<ISampler, SamplingOptions, IServiceProvider, ISampler> Wrap);

/// <summary>
/// The fixed order of the built-in wrappers, innermost first: Karras spacing sets the timesteps on the sampler itself;
/// thresholding limits x₀ just before the sampler sees the output; temperature and then noise injection act on the raw
/// model output first. Guidance is not here: it wraps the denoiser, before any of these.
/// </summary>
public static class BuiltInWrapperOrder
{
    /// <summary>Karras σ spacing.</summary>
    public const int KarrasSigmas = 100;
    /// <summary>Dynamic thresholding of x₀.</summary>
    public const int Thresholding = 200;
    /// <summary>Noise injection into the model output.</summary>
    public const int NoiseInjection = 300;
    /// <summary>Temperature of the model output (outermost: the first change the raw output sees).</summary>
    public const int Temperature = 400;
}
