using Diffusion.Noise;
using Diffusion.Scheduling;

namespace Diffusion.Tests.Support;

/// <summary>A full sampling loop driven by an exact denoiser: what a pipeline does, with the network replaced by a formula.</summary>
public static class ClosedFormSampling
{
    /// <summary>The result of one run.</summary>
    /// <param name="Samples">The final samples.</param>
    /// <param name="FirstInput">The variance-preserving sample the network saw at the first step.</param>
    /// <param name="FirstAlphaBar">ᾱ at the first step.</param>
    public sealed record Run(float[] Samples, float[] FirstInput, double FirstAlphaBar);

    /// <summary>
    /// Samples <paramref name="count"/> scalars (a batch of <paramref name="count"/> 1×1×1 items) from
    /// <paramref name="data"/> with <paramref name="sampler"/> in <paramref name="steps"/> steps, starting from seeded noise.
    /// </summary>
    public static Run Sample(IScheduler sampler, int steps, GaussianData data, int count, ulong seed)
    {
        sampler.SetTimesteps(steps);
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
            }
            data.Predict(sampler.Config.PredictionType, input, alphaBar, output);
            sampler.Step(new StepInput(output, t, x, count), new StepOutput(prev), noise);
            (x, prev) = (prev, x);
        }
        return new Run(x, firstInput!, firstAlphaBar);
    }

    /// <summary>
    /// ᾱ of the noise level the sampler is at: from its σ table for sigma-space samplers (so a fractional timestep
    /// means exactly the σ the sampler used), else from the training schedule at the integral timestep.
    /// </summary>
    public static double AlphaBarAt(IScheduler sampler, int stepIndex, double timestep)
    {
        if (Diffusion.Wrappers.SchedulerDecorator.Unwrap(sampler) is ISigmaScheduler sigmas)
        {
            var sigma = sigmas.Sigmas[stepIndex];
            return 1 / (1 + sigma * sigma);
        }
        return sampler.Schedule.AlphasCumprod[(int)timestep];
    }

    /// <summary>Largest |sample − exact endpoint| over a run.</summary>
    public static double EndpointError(Run run, GaussianData data)
    {
        var worst = 0.0;
        for (var i = 0; i < run.Samples.Length; i++)
            worst = Math.Max(worst, Math.Abs(run.Samples[i] - data.ExactEndpoint(run.FirstInput[i], run.FirstAlphaBar)));
        return worst;
    }

    /// <summary>Mean and standard deviation of the samples, in double.</summary>
    public static (double Mean, double Std) Moments(float[] samples)
    {
        var mean = samples.Average(v => (double)v);
        var variance = samples.Sum(v => (v - mean) * (v - mean)) / (samples.Length - 1);
        return (mean, Math.Sqrt(variance));
    }
}
