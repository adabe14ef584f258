using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Edm;

/// <summary>
/// Euler's method on the EDM probability flow (Karras et al. 2022, https://arxiv.org/abs/2206.00364, Algorithm 2
/// without its second-order correction), with the churn of the same algorithm (<c>s_churn</c>, <c>s_tmin</c>,
/// <c>s_tmax</c>, <c>s_noise</c>), as the reference's <c>EDMEulerScheduler</c>. The σ table, preconditioning and
/// timesteps are <see cref="EdmSamplerBase"/>'s; the Karras ramp is double, as the reference computes it.
/// </summary>
public sealed class EdmEulerSampler(SchedulerConfig config) : EdmSamplerBase(SamplerNames.EdmEuler, config, float32Karras: false)
{
    private const int ChurnedSlot = 0, NoiseSlot = 1, X0Slot = 2;

    /// <summary>With "sigma_min" the last spaced σ repeats as the final one (the reference's EDM Euler).</summary>
    protected override double SigmaMinFinal(float lastSpaced) => lastSpaced;

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        var n = input.Sample.Length;
        var (sigma, next) = SigmasAt(stepIndex);

        // 1. The churn: γ from the table length less one (n), σ̂ = σ·(1 + γ), x̂ = x + z·s_noise·√(σ̂² − σ²).
        var gamma = Churn.Gamma(Config, sigma, Sigmas.Count - 1);
        var sigmaHat = Churn.SigmaHat(sigma, gamma);
        ReadOnlySpan<float> sample = input.Sample;
        if (gamma > 0)
        {
            var churned = Buffer(ChurnedSlot, n);
            ApplyWithNoise(new Churn.Move(Config, sigma, sigmaHat), noise, NoiseSlot, input.Sample, input.Sample, churned);
            sample = churned;
        }

        // 2. x̂₀ preconditioned at σ̂ from the churned sample (the network saw c_in(σ)·x, before the churn).
        var wantsX0 = !output.PredictedOriginal.IsEmpty;
        var x0 = wantsX0 ? output.PredictedOriginal : Buffer(X0Slot, n);
        Precondition(sample, input.ModelOutput, sigmaHat, x0);

        // 3. x' = x̂ + (x̂ − x̂₀)/σ̂·(σ_next − σ̂).
        ElementWise.Apply(new EulerStep(sigmaHat, next - sigmaHat), sample, x0, output.PrevSample);
        return wantsX0;
    }

    // x + ((x − x̂₀)/σ̂)·dt.
    private readonly record struct EulerStep(float SigmaHat, float Dt) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T x0) where T : struct, IFloatVector<T> => sample + (sample - x0) / SigmaHat * Dt;
    }
}
