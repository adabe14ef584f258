using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.FlowMatch;

/// <summary>
/// Euler's method on the flow-matching ODE dx/dσ = v (Lipman et al. 2023, https://arxiv.org/abs/2210.02747; the
/// shifted schedule of Esser et al. 2024, https://arxiv.org/abs/2403.03206), as the reference's
/// <c>FlowMatchEulerDiscreteScheduler</c>: velocity models (SD3, Flux), <c>shift</c>, dynamic shifting with μ,
/// <c>shift_terminal</c>, <c>invert_sigmas</c>, Karras / exponential / beta σ, explicit σ and timestep lists, and
/// <c>stochastic_sampling</c>. The schedule is <see cref="FlowMatchSamplerBase"/>'s.
/// </summary>
public sealed class FlowMatchEulerSampler(SchedulerConfig config) : FlowMatchSamplerBase(SamplerNames.FlowMatchEuler, config)
{
    private const int X0Slot = 0, NoiseSlot = 1;

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        // 1. σ and σ_next from the float32 table.
        var (sigma, next) = SigmasAt(stepIndex);
        var wantsX0 = !output.PredictedOriginal.IsEmpty;

        if (Config.StochasticSampling == true)
        {
            // 2s. x₀ = x − σ·v, then re-noise it to σ_next with fresh noise: x' = (1 − σ_next)·x₀ + σ_next·z.
            var x0 = wantsX0 ? output.PredictedOriginal : Buffer(X0Slot, input.Sample.Length);
            PredictOriginal(input.Sample, input.ModelOutput, sigma, x0);
            Renoise(x0, next, noise, NoiseSlot, output.PrevSample);
            return wantsX0;
        }

        // 2. The Euler step x' = x + (σ_next − σ)·v (dt rounded to float32 first, as the reference's tensor subtraction).
        if (wantsX0) PredictOriginal(input.Sample, input.ModelOutput, sigma, output.PredictedOriginal);
        ElementWise.Apply(new EulerStep(next - sigma), input.Sample, input.ModelOutput, output.PrevSample);
        return wantsX0;
    }

    // x + dt·v.
    private readonly record struct EulerStep(float Dt) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T velocity) where T : struct, IFloatVector<T> => sample + velocity * Dt;
    }
}
