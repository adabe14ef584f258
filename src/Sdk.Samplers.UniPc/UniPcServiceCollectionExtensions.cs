using Diffusion.Configuration;
using Diffusion.Samplers.UniPc;
using Diffusion.Scheduling;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the UniPC multistep sampler.</summary>
public static class UniPcServiceCollectionExtensions
{
    /// <summary>Makes the <c>unipc</c> sampler (reference class UniPCMultistepScheduler) available to the sampler factory.</summary>
    public static IDiffusionBuilder AddUniPcSampler(this IDiffusionBuilder builder) =>
        builder.AddSampler(SamplerNames.UniPc, "UniPCMultistepScheduler", config => new UniPcScheduler(config));
}
