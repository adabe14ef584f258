using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.FlowMatch;

/// <summary>
/// Multistep consistency sampling on a flow (Luo et al. 2023's LCM loop, https://arxiv.org/abs/2310.04378, for
/// flow-matching distilled models), as the reference's <c>FlowMatchLCMScheduler</c>: every step predicts x₀ = x − σ·v
/// and re-noises it to the next σ with fresh noise, the last step included. The schedule is
/// <see cref="FlowMatchSamplerBase"/>'s (an explicit timestep list stays the timesteps); the reference's
/// <c>scale_factors</c>/<c>upscale_mode</c> (a resize between steps, which changes the tensor's shape) are not offered.
/// </summary>
public sealed class FlowMatchLcmSampler(SchedulerConfig config) : FlowMatchSamplerBase(SamplerNames.FlowMatchLcm, config)
{
    private const int X0Slot = 0, NoiseSlot = 1;

    /// <inheritdoc/>
    protected override bool KeepsExplicitTimesteps => true;

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        // 1. σ and σ_next from the float32 table.
        var (sigma, next) = SigmasAt(stepIndex);
        var wantsX0 = !output.PredictedOriginal.IsEmpty;

        // 2. x₀ = x − σ·v.
        var x0 = wantsX0 ? output.PredictedOriginal : Buffer(X0Slot, input.Sample.Length);
        PredictOriginal(input.Sample, input.ModelOutput, sigma, x0);

        // 3. x' = (1 − σ_next)·x₀ + σ_next·z, z fresh noise (also at the last step, where σ_next is 0, or 1 inverted).
        Renoise(x0, next, noise, NoiseSlot, output.PrevSample);
        return wantsX0;
    }
}
