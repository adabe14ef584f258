using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
namespace Diffusion.Sdk.Pipeline;

/// <summary>One sampler of a <see cref="SamplerEnsemble"/> and its weight in the combined result.</summary>
/// <param name="Sampler">A registered sampler name, e.g. <c>ddim</c>; it runs with the request's other sampling options.</param>
/// <param name="Weight">Its weight: any finite number; the weights are divided by their (non-zero) sum.</param>
public sealed record EnsembleMember(string Sampler, double Weight);
