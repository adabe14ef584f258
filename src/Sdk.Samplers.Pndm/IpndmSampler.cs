using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Pndm;

/// <summary>
/// iPNDM, the improved pseudo numerical method of Zhang &amp; Chen 2023 ("Fast Sampling of Diffusion Models with
/// Exponential Integrator", https://arxiv.org/abs/2204.13902, §5 / Appendix): the linear multistep method of PNDM
/// with lower orders while the history fills, on its own trigonometric noise levels instead of the training schedule,
/// as the reference's <c>IPNDMScheduler</c>. With s_i = 1 − i/n, the noise and signal scales are β_i = sin²(s_i·π/2)
/// and α_i = √(1 − β_i²) (the sample is α·x₀ + β·ε), and the timestep the network sees is atan2(β, α)·2/π.
/// </summary>
/// <remarks>
/// <para>The network output F enters as e = β·x + α·F (ε for an ε model at α = 0, where x is pure noise); the step
/// combines e with the last three by Adams–Bashforth weights of order 1 to 4, predicts x̂₀ = (x − β·E)/α and moves it to
/// the next level: x' = α'·x̂₀ + β'·E. The first step (β = 1, α = 0) therefore returns β₁·x whatever the network says.</para>
/// <para>Every quantity is float32, as the reference's tensors; <c>num_train_timesteps</c> plays no part in the run.
/// The σ of the variance-exploding view, β/α, is <see cref="ISigmaSampler.Sigmas"/> (+∞ at the first step, pure noise).</para>
/// </remarks>
public sealed class IpndmSampler : SamplerBase, ISigmaSampler
{
    private const int HistorySlots = 4;
    private float[] _betas = [], _alphas = [];
    private double[] _sigmas = [];
    private int _historyCount;

    /// <summary>
    /// Creates the sampler. The reference's IPNDMScheduler has no <c>prediction_type</c>: its e = β·x + α·F is ε exactly when
    /// F is the v-prediction α·ε − β·x₀ (α² + β² = 1), so this sampler's <see cref="ISampler.Config"/> reports
    /// <c>v_prediction</c>, whatever the given configuration says: the network must predict v.
    /// </summary>
    public IpndmSampler(SchedulerConfig config) : base(SamplerNames.Ipndm, config) => Config.PredictionType = PredictionType.VPrediction;

    /// <inheritdoc/>
    public IReadOnlyList<double> Sigmas => _sigmas;

    /// <summary>The smallest positive noise level the sampler reaches: that of the last step of a num_train_timesteps-step run, β/α at s = 1/T.</summary>
    public double SigmaMin
    {
        get
        {
            var sine = Math.Sin(Math.PI / 2 / Schedule.NumTrainTimesteps);
            var beta = sine * sine;
            return beta / Math.Sqrt(1 - beta * beta);
        }
    }

    /// <summary>+∞: the first step is pure noise.</summary>
    public double SigmaMax => double.PositiveInfinity;

    /// <summary>Explicit timesteps in [0, 1] are not offered (the reference takes only a count).</summary>
    public override bool AcceptsExplicitTimesteps => false;

    /// <inheritdoc/>
    /// <exception cref="NotSupportedException">Always: the reference takes only a count; its levels are tied to the trigonometric schedule.</exception>
    public void SetSigmas(IReadOnlyList<double> sigmas) =>
        throw new NotSupportedException($"The '{Name}' sampler takes only a step count: its noise levels are sin²(s·π/2) of an even ramp s.");

    /// <summary>The forward process α_t·x₀ + β_t·ε with β_t = sin(t·π/2), α_t = cos(t·π/2) (the angle atan2(β, α) = t·π/2 of a timestep).</summary>
    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        var itemLength = CheckAddNoise(original, noise, timesteps, destination);
        for (var b = 0; b < timesteps.Length; b++)
        {
            var angle = timesteps[b] * Math.PI / 2;
            var range = new Range(b * itemLength, (b + 1) * itemLength);
            PredictionMath.Combine((float)Math.Cos(angle), original[range], (float)Math.Sin(angle), noise[range], destination[range]);
        }
    }

    /// <summary>s = linspace(1, 0, n + 1) without its end, then 0 (float32); β = sin(s·π/2)², α = √(1 − β²); t = atan2(β, α)·2/π.</summary>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        // 1. The ramp s_i as torch.linspace(1, 0, n + 1) computes it, its last point replaced by an exact 0.
        var steps = Float32Schedule.TorchLinspace(1f, 0f, numInferenceSteps + 1);
        steps[^1] = 0f;
        _betas = new float[steps.Length];
        _alphas = new float[steps.Length];
        _sigmas = new double[steps.Length];
        var timesteps = new double[numInferenceSteps];
        for (var i = 0; i < steps.Length; i++)
        {
            // 2. β = sin(s·π/2)², α = √(1 − β²), each a float32 tensor operation.
            var sine = MathF.Sin(steps[i] * MathF.PI / 2);
            _betas[i] = sine * sine;
            _alphas[i] = MathF.Sqrt(1 - _betas[i] * _betas[i]);
            _sigmas[i] = i < numInferenceSteps ? (double)_betas[i] / _alphas[i] : 0;
            // 3. The network's timestep, the angle of (α, β) over π/2.
            if (i < numInferenceSteps) timesteps[i] = MathF.Atan2(_betas[i], _alphas[i]) / MathF.PI * 2;
        }
        return timesteps;
    }

    /// <inheritdoc/>
    protected override void OnReset() => _historyCount = 0;

    /// <summary>
    /// The listed timestep or one within 10⁻⁶ (a few float32 units; the timesteps lie at least 1/n apart): the reference's
    /// vectorised sin and atan2 (within 1 ulp) round some β and timesteps a unit or two away from .NET's, so its timestep
    /// list may differ from this one in the last bits.
    /// </summary>
    protected override bool TimestepMatches(double listed, double given) => WithinFloat32Rounding(listed, given);

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        var n = input.Sample.Length;
        float beta = _betas[stepIndex], alpha = _alphas[stepIndex];
        float nextBeta = _betas[stepIndex + 1], nextAlpha = _alphas[stepIndex + 1];

        // 1. e_k = β·x + α·F, pushed into the ring of the last four (slot k mod 4).
        var slot = _historyCount % HistorySlots;
        var current = Buffer(slot, n);
        ElementWise.Apply(new Gradient(beta, alpha), input.Sample, input.ModelOutput, current);
        _historyCount++;

        // 2. E by the Adams–Bashforth weights the history allows, then x̂₀ = (x − β·E)/max(α, 1e−8), x' = α'·x̂₀ + β'·E.
        var divisor = MathF.Max(alpha, 1e-8f);
        var step = new Transfer(beta, divisor, nextAlpha, nextBeta);
        switch (Math.Min(_historyCount, 4))
        {
            case 1:
                ElementWise.Apply(step, input.Sample, current, output.PrevSample);
                break;
            case 2:
                ElementWise.Apply(new Order2(step), input.Sample, current, Previous(1, n), output.PrevSample);
                break;
            case 3:
                ElementWise.Apply(new Order3(step), input.Sample, current, Previous(1, n), Previous(2, n), output.PrevSample);
                break;
            default:
                ElementWise.Apply(new Order4(step), input.Sample, current, Previous(1, n), Previous(2, n), Previous(3, n), output.PrevSample);
                break;
        }
        return false;
    }

    // The history entry pushed `age` steps before the newest.
    private ReadOnlySpan<float> Previous(int age, int length) => Buffer((_historyCount - 1 - age) % HistorySlots, length);

    // e = x·β + F·α.
    private readonly record struct Gradient(float Beta, float Alpha) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T output) where T : struct, IFloatVector<T> => sample * Beta + output * Alpha;
    }

    // x̂₀ = (x − β·E)/α; x' = α'·x̂₀ + E·β'.
    private readonly record struct Transfer(float Beta, float Alpha, float NextAlpha, float NextBeta) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T e) where T : struct, IFloatVector<T> => NextAlpha * ((sample - Beta * e) / Alpha) + e * NextBeta;
    }

    // E = (3e₁ − e₂)/2.
    private readonly record struct Order2(Transfer Step) : ElementWise.IOperator3
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T e1, T e2) where T : struct, IFloatVector<T> => Step.Invoke(sample, (3f * e1 - e2) / 2f);
    }

    // E = (23e₁ − 16e₂ + 5e₃)/12.
    private readonly record struct Order3(Transfer Step) : ElementWise.IOperator4
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T e1, T e2, T e3) where T : struct, IFloatVector<T> => Step.Invoke(sample, (23f * e1 - 16f * e2 + 5f * e3) / 12f);
    }

    // E = (1/24)·(55e₁ − 59e₂ + 37e₃ − 9e₄).
    private readonly record struct Order4(Transfer Step) : ElementWise.IOperator5
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T e1, T e2, T e3, T e4) where T : struct, IFloatVector<T> =>
            Step.Invoke(sample, (1f / 24) * (55f * e1 - 59f * e2 + 37f * e3 - 9f * e4));
    }
}
