using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Tests.Support;

/// <summary>
/// Two closed-form ε networks in one: class label 0 is the conditional data x₀ ~ N(μᶜ_i, sᶜ²), label 1 the
/// unconditional N(μᵘ_i, sᵘ²), per element. For the variance-exploding sample x = x₀ + σ·ε the posterior mean is
/// D(x; σ)_i = μ_i + s²/(s² + σ²)·(x_i − μ_i) and the network returns ε = (x − D)/σ, formed in double. It reads σ from
/// the sampler's table at the timestep it is called with, and takes the variance-preserving input x/√(σ² + 1) that
/// sigma samplers (ScaleModelInput) and DPM-Solver (its sample) give the network.
/// </summary>
public sealed class GaussianPairDenoiser(ISigmaSampler sampler, double[] conditionalMean, double conditionalStd, double[] unconditionalMean, double unconditionalStd)
    : IDenoiser
{
    /// <summary>The label of the conditional data.</summary>
    public const long Conditional = 0;

    /// <summary>The label of the unconditional data.</summary>
    public const long Unconditional = 1;

    /// <summary>Items evaluated so far (a guided evaluation of one item counts two).</summary>
    public int ItemEvaluations { get; private set; }

    public int? FixedBatchSize => null;

    public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default)
    {
        var sigma = SigmaAt(input.Timestep);
        var scale = Math.Sqrt(sigma * sigma + 1);
        var length = input.Shape.ItemLength;
        for (var b = 0; b < input.Shape.Batch; b++)
        {
            var label = input.ClassLabels.IsEmpty ? Conditional : input.ClassLabels[b];
            var (mean, std) = label == Unconditional ? (unconditionalMean, unconditionalStd) : (conditionalMean, conditionalStd);
            var s2 = std * std;
            for (var i = 0; i < length; i++)
            {
                var x = input.Sample[b * length + i] * scale;
                var denoised = mean[i % mean.Length] + s2 / (s2 + sigma * sigma) * (x - mean[i % mean.Length]);
                output[b * length + i] = (float)((x - denoised) / sigma);
            }
            ItemEvaluations++;
        }
    }

    private double SigmaAt(double timestep)
    {
        for (var k = 0; k < sampler.Timesteps.Count; k++)
            if (sampler.Timesteps[k] == timestep) return sampler.Sigmas[k];
        throw new InvalidOperationException($"Timestep {timestep} is not in the sampler's schedule.");
    }

    public void Dispose() { }
}
