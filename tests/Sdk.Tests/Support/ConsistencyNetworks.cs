using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Lcm;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.Testing;

namespace Diffusion.Sdk.Tests.Support;

/// <summary>
/// The ideal networks of the consistency-distilled samplers on Gaussian data, where the probability-flow ODE is known in
/// closed form (<see cref="GaussianData.ExactFlow"/>): what a perfectly distilled model outputs, so that the sampler's
/// own arithmetic is all that is tested. (The ideal denoiser, the posterior mean, is not such a network: multistep
/// consistency sampling with it loses Var[x₀ | x_t] at every step.)
/// </summary>
public static class ConsistencyNetworks
{
    /// <summary>
    /// LCM: the output whose consistency function c_skip·x + c_out·x̂₀ is the exact origin of x's trajectory, so that
    /// every step lands on an exact sample of the data and any step count samples it exactly.
    /// </summary>
    public static void Lcm(GaussianData data, ISampler sampler, int stepIndex, double timestep, ReadOnlySpan<float> input, Span<float> output)
    {
        var lcm = (LcmSampler)SamplerDecorator.Unwrap(sampler);
        var alphaBar = ClosedFormSampling.AlphaBarAt(sampler, stepIndex, timestep);
        var (skip, scale) = lcm.BoundaryScalings(timestep);
        for (var i = 0; i < input.Length; i++)
        {
            var origin = data.ExactFlow(input[i], alphaBar, 1.0);
            var x0 = scale > 0 ? (origin - skip * input[i]) / scale : origin;
            output[i] = Output(sampler.Config.PredictionType, input[i], x0, alphaBar);
        }
    }

    /// <summary>
    /// TCD: the output whose x̂₀ and implied ε̂ put x̂_s = √ᾱ_s·x̂₀ + √(1−ᾱ_s)·ε̂ exactly where the ODE takes x at the step's
    /// intermediate timestep s (the trajectory consistency function), so that every step keeps the exact marginal.
    /// </summary>
    public static void Tcd(GaussianData data, ISampler sampler, int stepIndex, double timestep, ReadOnlySpan<float> input, Span<float> output)
    {
        var tcd = (TcdSampler)SamplerDecorator.Unwrap(sampler);
        var next = stepIndex + 1 < sampler.Timesteps.Count ? sampler.Timesteps[stepIndex + 1] : 0;
        var alphaBarS = sampler.Schedule.AlphasCumprod[tcd.IntermediateTimestep(next)];
        var alphaBar = ClosedFormSampling.AlphaBarAt(sampler, stepIndex, timestep);
        double alpha = Math.Sqrt(alphaBar), sigma = Math.Sqrt(1 - alphaBar), alphaS = Math.Sqrt(alphaBarS), sigmaS = Math.Sqrt(1 - alphaBarS);
        for (var i = 0; i < input.Length; i++)
        {
            // √ᾱ_s·x̂₀ + √(1−ᾱ_s)·(x − √ᾱ·x̂₀)/√(1−ᾱ) = target, solved for x̂₀.
            var target = data.ExactFlow(input[i], alphaBar, alphaBarS);
            var x0 = (target - sigmaS / sigma * input[i]) / (alphaS - sigmaS * alpha / sigma);
            output[i] = Output(sampler.Config.PredictionType, input[i], x0, alphaBar);
        }
    }

    /// <summary>The network output of kind <paramref name="type"/> that means x̂₀ at the noisy sample x.</summary>
    private static float Output(PredictionType type, double x, double x0, double alphaBar)
    {
        double alpha = Math.Sqrt(alphaBar), sigma = Math.Sqrt(1 - alphaBar);
        var eps = (x - alpha * x0) / sigma;
        return (float)(type switch
        {
            PredictionType.Epsilon => eps,
            PredictionType.Sample => x0,
            _ => alpha * eps - sigma * x0,
        });
    }
}
