using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Testing;

/// <summary>A full sampling loop driven by an exact denoiser: what a pipeline does, with the network replaced by a formula.</summary>
public static class ClosedFormSampling
{
    /// <summary>The result of one run.</summary>
    /// <param name="Samples">The final samples.</param>
    /// <param name="FirstInput">The variance-preserving sample the network saw at the first step.</param>
    /// <param name="FirstAlphaBar">ᾱ at the first step.</param>
    public sealed record Run(float[] Samples, float[] FirstInput, double FirstAlphaBar);

    /// <summary>
    /// The network a run evaluates: writes the model output (of the sampler's prediction type) for the scaled input
    /// <paramref name="input"/> at step <paramref name="stepIndex"/>. The default is the ideal denoiser of the data
    /// (<see cref="GaussianData.Predict"/>); a sampler meant for a distilled network (a consistency model) supplies the
    /// ideal network of its kind.
    /// </summary>
    public delegate void Network(GaussianData data, ISampler sampler, int stepIndex, double timestep, ReadOnlySpan<float> input, Span<float> output);

    /// <summary>The ideal denoiser of <paramref name="data"/>: the posterior mean of x₀ (equivalently of ε) at the step's noise level.</summary>
    public static void IdealDenoiser(GaussianData data, ISampler sampler, int stepIndex, double timestep, ReadOnlySpan<float> input, Span<float> output)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(sampler);
        if (SamplerDecorator.Unwrap(sampler) is IFlowMatchingSampler flow)
        {
            data.PredictFlowVelocity(input, flow.Sigmas[stepIndex], output);
            return;
        }
        data.Predict(sampler.Config.PredictionType, input, AlphaBarAt(sampler, stepIndex, timestep), output);
    }

    /// <summary>
    /// Samples <paramref name="count"/> scalars (a batch of <paramref name="count"/> 1×1×1 items) from
    /// <paramref name="data"/> with <paramref name="sampler"/> in <paramref name="steps"/> steps, starting from seeded
    /// noise scaled by <see cref="ISampler.InitNoiseSigma"/>. The same seed gives the same x_T and the same draws.
    /// </summary>
    public static Run Sample(ISampler sampler, int steps, GaussianData data, int count, ulong seed, Network? network = null)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        sampler.SetTimesteps(steps);
        return SampleOnSchedule(sampler, data, count, seed, network);
    }

    /// <summary>
    /// As <see cref="Sample"/>, on the timesteps already set (for example from an explicit list or σ list); the sampler
    /// must be at the start of its run.
    /// </summary>
    public static Run SampleOnSchedule(ISampler sampler, GaussianData data, int count, ulong seed, Network? network = null)
    {
        network ??= IdealDenoiser;
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentNullException.ThrowIfNull(data);
        var noise = new TorchGaussianNoise(seed);
        var x = new float[count];
        noise.NextGaussian(x);
        for (var i = 0; i < count; i++) x[i] *= (float)sampler.InitNoiseSigma;

        var input = new float[count];
        var output = new float[count];
        var prev = new float[count];
        float[]? firstInput = null;
        var firstAlphaBar = double.NaN;
        for (var k = 0; k < sampler.Timesteps.Count; k++)
        {
            var t = sampler.Timesteps[k];
            sampler.ScaleModelInput(x, t, input);
            var alphaBar = AlphaBarAt(sampler, k, t);
            if (k == 0)
            {
                firstInput = (float[])input.Clone();
                firstAlphaBar = alphaBar;
                // A flow sample is a variance-preserving one scaled by √((1 − σ)² + σ²); the exact answers are in the latter.
                if (SamplerDecorator.Unwrap(sampler) is IFlowMatchingSampler flow)
                    for (var i = 0; i < count; i++) firstInput[i] = (float)(firstInput[i] / NoiseLevels.FlowScale(flow.Sigmas[0]));
            }
            network(data, sampler, k, t, input, output);
            sampler.Step(new StepInput(output, t, x, count), new StepOutput(prev), noise);
            (x, prev) = (prev, x);
        }
        return new Run(x, firstInput ?? [], firstAlphaBar);
    }

    /// <summary>
    /// ᾱ of the noise level the sampler is at in step <paramref name="stepIndex"/>: from its flow σ for flow-matching
    /// samplers (<see cref="NoiseLevels.FlowAlphaBar"/>); from its σ table for sigma-space
    /// samplers (ᾱ = 1/(1+σ²), so a fractional or repeated timestep means exactly the σ the sampler uses), else from the
    /// training schedule at the integral timestep.
    /// </summary>
    public static double AlphaBarAt(ISampler sampler, int stepIndex, double timestep)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        if (SamplerDecorator.Unwrap(sampler) is IFlowMatchingSampler flow) return NoiseLevels.FlowAlphaBar(flow.Sigmas[stepIndex]);
        if (SamplerDecorator.Unwrap(sampler) is ISigmaSampler sigmas)
        {
            var sigma = sigmas.Sigmas[stepIndex];
            return 1 / (1 + sigma * sigma);
        }
        return sampler.Schedule.AlphasCumprod[(int)timestep];
    }

    /// <summary>Largest |sample − exact probability-flow endpoint (ᾱ = 1)| over a run.</summary>
    public static double EndpointError(Run run, GaussianData data) => EndpointError(run, data, finalSigma: 0);

    /// <summary>
    /// Largest distance between a run's samples and the exact probability-flow solution at the final noise level
    /// σ_f (ᾱ_f = 1/(1+σ_f²)), in the variance-preserving scale (the scale of a sampler whose initial noise has σ = 1).
    /// </summary>
    public static double EndpointError(Run run, GaussianData data, double finalSigma)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(data);
        var finalAlphaBar = 1 / (1 + finalSigma * finalSigma);
        var worst = 0.0;
        for (var i = 0; i < run.Samples.Length; i++)
            worst = Math.Max(worst, Math.Abs(run.Samples[i] - data.ExactFlow(run.FirstInput[i], run.FirstAlphaBar, finalAlphaBar)));
        return worst;
    }

    /// <summary>Mean and (unbiased) standard deviation of the samples, in double.</summary>
    public static (double Mean, double Std) Moments(ReadOnlySpan<float> samples)
    {
        var mean = 0.0;
        foreach (var v in samples) mean += v;
        mean /= samples.Length;
        var sum = 0.0;
        foreach (var v in samples) sum += (v - mean) * (v - mean);
        return (mean, Math.Sqrt(sum / (samples.Length - 1)));
    }
}
