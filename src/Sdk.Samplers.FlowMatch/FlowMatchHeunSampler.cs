using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.FlowMatch;

/// <summary>
/// Heun's second-order method on the flow-matching ODE, with the churn of Karras et al. 2022 (Algorithm 2,
/// https://arxiv.org/abs/2206.00364), as the reference's <c>FlowMatchHeunDiscreteScheduler</c>: two evaluations per
/// interval (the last interval, to σ = 0, one), the shifted σ of <see cref="FlowMatchSamplerBase"/> (<c>shift</c>
/// only), and <c>s_churn</c>, <c>s_tmin</c>, <c>s_tmax</c>, <c>s_noise</c> (the reference's step arguments).
/// </summary>
public sealed class FlowMatchHeunSampler(SchedulerConfig config)
    : FlowMatchSamplerBase(SamplerNames.FlowMatchHeun, config, twoEvaluationsPerInterval: true, fullSchedule: false)
{
    private const int DerivativeSlot = 0, StartSlot = 1, ChurnedSlot = 2, NoiseSlot = 3;
    private float _dt;

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        var n = input.Sample.Length;
        var second = IsSecondEvaluation(stepIndex);
        // 1. The interval σ → σ_next: a second evaluation's own σ is the interval's end.
        var (sigma, next) = second ? SigmasAt(stepIndex - 1) : SigmasAt(stepIndex);

        // 2. The churn: γ = min(s_churn/(table length − 1), √2 − 1) inside [s_tmin, s_tmax]; σ̂ = σ·(1 + γ), and the sample
        //    moves to σ̂ with fresh noise x ← x + z·s_noise·√(σ̂² − σ²). The reference computes it on both evaluations; on
        //    the second it only changes the evaluation's own derivative (the update restarts from the first's sample).
        var gamma = Churn.Gamma(Config, sigma, Sigmas.Count - 1);
        var sigmaHat = Churn.SigmaHat(sigma, gamma);
        ReadOnlySpan<float> sample = input.Sample;
        if (gamma > 0)
        {
            var churned = Buffer(ChurnedSlot, n);
            ApplyWithNoise(new Churn.Move(Config, sigma, sigmaHat), noise, NoiseSlot, input.Sample, input.Sample, churned);
            sample = churned;
        }

        var derivative = Buffer(DerivativeSlot, n);
        if (!second)
        {
            // 3. First evaluation: d = (x − (x − σ·v))/σ̂, x' = x + d·(σ_next − σ̂); keep d, dt and x for the second.
            _dt = next - sigmaHat;
            ElementWise.Apply(new Derivative(sigma, sigmaHat), sample, input.ModelOutput, derivative);
            if (next > 0) sample.CopyTo(Buffer(StartSlot, n));
            ElementWise.Apply(new Advance(_dt), sample, derivative, output.PrevSample);
            return false;
        }

        // 4. Second evaluation at σ_next: d' = (x − (x − σ_next·v))/σ_next; x' = x_first + ½(d + d')·dt.
        ElementWise.Apply(new Average(next, _dt), sample, input.ModelOutput, derivative, Buffer(StartSlot, n), output.PrevSample);
        return false;
    }

    // (x − (x − v·σ))/σ̂, with the reference's roundings: the x̂₀ tensor first.
    private readonly record struct Derivative(float Sigma, float SigmaHat) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T velocity) where T : struct, IFloatVector<T> => (sample - (sample - velocity * Sigma)) / SigmaHat;
    }

    // x + d·dt.
    private readonly record struct Advance(float Dt) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T derivative) where T : struct, IFloatVector<T> => sample + derivative * Dt;
    }

    // x_first + (0.5·(d + (x − (x − v·σ_next))/σ_next))·dt.
    private readonly record struct Average(float Next, float Dt) : ElementWise.IOperator4
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T velocity, T derivative, T start) where T : struct, IFloatVector<T> =>
            start + (derivative + (sample - (sample - velocity * Next)) / Next) * 0.5f * Dt;
    }
}
