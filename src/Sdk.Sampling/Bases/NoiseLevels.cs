using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>The noise level a sampler works at, in the variance-preserving terms (ᾱ) that every prediction type is defined in.</summary>
public static class NoiseLevels
{
    /// <summary>
    /// ᾱ at <paramref name="timestep"/> as the sampler sees it: from its σ table (ᾱ = 1/(1+σ²)) for sigma-space
    /// samplers, so fractional timesteps mean exactly the σ it steps with; else from the training schedule, with
    /// log σ interpolated between neighbouring training timesteps for fractional values.
    /// </summary>
    public static double AlphaBarAt(ISampler sampler, double timestep)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        if (SamplerDecorator.Unwrap(sampler) is IFlowMatchingSampler flow)
        {
            var flowSigma = timestep / sampler.Schedule.NumTrainTimesteps;
            for (var i = 0; i < flow.Timesteps.Count; i++)
                if (flow.Timesteps[i] == timestep)
                {
                    flowSigma = flow.Sigmas[i];
                    break;
                }
            return FlowAlphaBar(flowSigma);
        }
        if (SamplerDecorator.Unwrap(sampler) is ISigmaSampler sigmaSampler)
        {
            var timesteps = sigmaSampler.Timesteps;
            for (var i = 0; i < timesteps.Count; i++)
                if (timesteps[i] == timestep)
                    return 1 / (1 + sigmaSampler.Sigmas[i] * sigmaSampler.Sigmas[i]);
        }
        var schedule = sampler.Schedule;
        var t = Math.Clamp(timestep, 0, schedule.NumTrainTimesteps - 1);
        var lo = (int)Math.Floor(t);
        if (lo == t) return schedule.AlphasCumprod[lo];
        var hi = Math.Min(lo + 1, schedule.NumTrainTimesteps - 1);
        var w = t - lo;
        var sigma = Math.Exp((1 - w) * Math.Log(schedule.Sigmas[lo]) + w * Math.Log(schedule.Sigmas[hi]));
        return 1 / (1 + sigma * sigma);
    }

    /// <summary>
    /// ᾱ of a flow σ: x = (1 − σ)·x₀ + σ·ε is the variance-preserving sample of ᾱ = (1 − σ)²/((1 − σ)² + σ²) scaled by
    /// √((1 − σ)² + σ²) (<see cref="FlowScale"/>).
    /// </summary>
    public static double FlowAlphaBar(double flowSigma)
    {
        var a = 1 - flowSigma;
        return a * a / (a * a + flowSigma * flowSigma);
    }

    /// <summary>√((1 − σ)² + σ²): a flow sample divided by it is the variance-preserving sample of <see cref="FlowAlphaBar"/>.</summary>
    public static double FlowScale(double flowSigma) => Math.Sqrt((1 - flowSigma) * (1 - flowSigma) + flowSigma * flowSigma);
}
