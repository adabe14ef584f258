using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Edm;

/// <summary>
/// What the EDM samplers share ("Elucidating the Design Space of Diffusion-Based Generative Models", Karras et al.
/// 2022, https://arxiv.org/abs/2206.00364, Table 1): the variance-exploding sample x = x₀ + σ·ε with σ between
/// <c>sigma_min</c> and <c>sigma_max</c> (no training schedule), the Karras (ρ) or exponential σ spacing, the
/// preconditioning c_in = 1/√(σ² + σ_d²) of the network input and x̂₀ = c_skip·x + c_out·F of its output
/// (c_skip = σ_d²/(σ² + σ_d²), c_out = ±σ·σ_d/√(σ² + σ_d²)), and the network's timestep c_noise = ¼·log σ.
/// </summary>
/// <remarks>
/// <c>prediction_type</c> names F's parameterisation as the reference does: <c>epsilon</c> (c_out positive, EDM's own
/// F), <c>v_prediction</c> (c_out negative) and, beyond the reference, <c>sample</c> (F is x̂₀ itself). Every σ and
/// coefficient is float32, as the reference's tensors.
/// </remarks>
public abstract class EdmSamplerBase : SamplerBase, ISigmaSampler, IDenoisedOutputMapping
{
    private readonly bool _float32Karras;
    private double[] _sigmas = [];

    /// <summary>Validates the configuration.</summary>
    /// <param name="name">The sampler's registered name.</param>
    /// <param name="config">The configuration (a private copy is kept).</param>
    /// <param name="float32Karras">Whether the Karras ramp is computed in float32 (EDM DPM-Solver) rather than in double (EDM Euler), as the reference does.</param>
    protected EdmSamplerBase(string name, SchedulerConfig config, bool float32Karras) : base(name, config)
    {
        _float32Karras = float32Karras;
        if (!(SigmaMax > SigmaMin))
            throw new SchedulerConfigException("sigma_max", Format(SigmaMax), $"a value above sigma_min = {Format(SigmaMin)}");
        if (Config.FinalSigmasType is { } final && final is not ("zero" or "sigma_min"))
            throw new SchedulerConfigException("final_sigmas_type", ConfigNames.Quote(final), ConfigNames.OneOf(["zero", "sigma_min"]));
    }

    /// <inheritdoc/>
    public IReadOnlyList<double> Sigmas => _sigmas;

    /// <summary><c>sigma_min</c> (default 0.002).</summary>
    public double SigmaMin => Config.SigmaMin ?? 0.002;

    /// <summary><c>sigma_max</c> (default 80).</summary>
    public double SigmaMax => Config.SigmaMax ?? 80.0;

    /// <summary>σ_d, the data's standard deviation (<c>sigma_data</c>, default 0.5).</summary>
    public double SigmaData => Config.SigmaData ?? 0.5;

    /// <summary>√(σ_max² + 1), as the reference reports it.</summary>
    public override double InitNoiseSigma => Math.Sqrt(SigmaMax * SigmaMax + 1);

    /// <summary>Timesteps are c_noise of the sampler's own σ: explicit lists go through <see cref="SetSigmas"/>.</summary>
    public override bool AcceptsExplicitTimesteps => false;

    /// <summary>The final σ after the spaced ones, for <c>final_sigmas_type</c> "sigma_min" (<paramref name="lastSpaced"/> is the last spaced σ).</summary>
    protected abstract double SigmaMinFinal(float lastSpaced);

    /// <inheritdoc/>
    public void SetSigmas(IReadOnlyList<double> sigmas)
    {
        var list = SigmaMath.ValidateSigmas(sigmas);
        ReplaceTimesteps(Install(Array.ConvertAll(list, s => (float)s)));
    }

    /// <summary>The network input c_in·x, c_in = 1/√(σ² + σ_d²) at the timestep's σ.</summary>
    public override void ScaleModelInput(ReadOnlySpan<float> sample, double timestep, Span<float> destination) =>
        PredictionMath.Multiply(sample, InputScale(SigmaAt(timestep)), destination);

    /// <summary>x₀ + σ·ε at each item's σ (the second position of a timestep listed twice).</summary>
    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        var itemLength = CheckAddNoise(original, noise, timesteps, destination);
        for (var b = 0; b < timesteps.Length; b++)
        {
            var range = new Range(b * itemLength, (b + 1) * itemLength);
            PredictionMath.MultiplyAdd(noise[range], SigmaAt(timesteps[b], secondOccurrence: true), original[range], destination[range]);
        }
    }

    /// <summary>The σ spacing (Karras with ρ, or exponential) from σ_max to σ_min, then the final σ.</summary>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        double min = SigmaMin, max = SigmaMax, rho = Config.Rho ?? 7.0;
        var sigmas = new float[numInferenceSteps];
        if ((Config.SigmaSchedule ?? "karras") == "exponential")
        {
            // exp(linspace(log σ_min, log σ_max, n)) in float32, reversed.
            var logs = Float32Schedule.TorchLinspace((float)Math.Log(min), (float)Math.Log(max), numInferenceSteps);
            for (var i = 0; i < numInferenceSteps; i++) sigmas[numInferenceSteps - 1 - i] = ReferenceFloat32.TorchExp(logs[i]);
        }
        else if (_float32Karras)
        {
            // (σ_max^(1/ρ) + r·(σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ with a float32 ramp and float32 arithmetic.
            var ramp = Float32Schedule.TorchLinspace(0f, 1f, numInferenceSteps);
            double minInv = Math.Pow(min, 1 / rho), maxInv = Math.Pow(max, 1 / rho);
            for (var i = 0; i < numInferenceSteps; i++) sigmas[i] = MathF.Pow((float)maxInv + ramp[i] * (float)(minInv - maxInv), (float)rho);
        }
        else
        {
            var spaced = SigmaMath.Karras(min, max, numInferenceSteps, rho);
            for (var i = 0; i < numInferenceSteps; i++) sigmas[i] = (float)spaced[i];
        }
        return Install(sigmas);
    }

    /// <summary>The σ of step <paramref name="stepIndex"/> and of the next (float32, as the reference's table).</summary>
    protected (float Sigma, float Next) SigmasAt(int stepIndex) => ((float)_sigmas[stepIndex], (float)_sigmas[stepIndex + 1]);

    /// <summary>
    /// x̂₀ = c_skip·x + c_out·F at <paramref name="sigma"/> (the products first, as the reference's tensor operations),
    /// or F itself for <c>sample</c> prediction.
    /// </summary>
    protected void Precondition(ReadOnlySpan<float> sample, ReadOnlySpan<float> modelOutput, float sigma, Span<float> destination)
    {
        if (Config.PredictionType == PredictionType.Sample)
        {
            if (!modelOutput.Overlaps(destination)) modelOutput.CopyTo(destination);
            return;
        }
        var (skip, output) = OutputScales(sigma);
        ElementWise.Apply(new Preconditioned(skip, output), sample, modelOutput, destination);
    }

    /// <summary>x̂₀ = c_skip·x + c_out·F at the timestep's σ.</summary>
    public void ToDenoised(double timestep, ReadOnlySpan<float> sample, ReadOnlySpan<float> modelOutput, Span<float> denoised) =>
        Precondition(sample, modelOutput, SigmaAt(timestep), denoised);

    /// <summary>F = (x̂₀ − c_skip·x)/c_out at the timestep's σ (x̂₀ itself for <c>sample</c> prediction).</summary>
    public void FromDenoised(double timestep, ReadOnlySpan<float> sample, ReadOnlySpan<float> denoised, Span<float> modelOutput)
    {
        if (Config.PredictionType == PredictionType.Sample)
        {
            denoised.CopyTo(modelOutput);
            return;
        }
        var (skip, output) = OutputScales(SigmaAt(timestep));
        ElementWise.Apply(new Unconditioned(skip, output), sample, denoised, modelOutput);
    }

    /// <summary>c_skip and c_out at σ in float32: σ_d²/(σ² + σ_d²) and ±σ·σ_d/√(σ² + σ_d²).</summary>
    protected (float Skip, float Output) OutputScales(float sigma)
    {
        var dataSquared = (float)(SigmaData * SigmaData);
        var total = sigma * sigma + dataSquared;
        var output = sigma * (float)SigmaData / MathF.Sqrt(total);
        return (dataSquared / total, Config.PredictionType == PredictionType.VPrediction ? -output : output);
    }

    /// <summary>EDM's timesteps are float32 logarithms, which .NET may round a unit away from the reference: a timestep within 10⁻⁶ is the listed one.</summary>
    protected override bool TimestepMatches(double listed, double given) => WithinFloat32Rounding(listed, given);

    // c_in = 1/√(σ² + σ_d²) in float32.
    private float InputScale(float sigma) => 1 / MathF.Sqrt(sigma * sigma + (float)(SigmaData * SigmaData));

    // The table σ_0 … σ_{n−1}, the final σ; timesteps ¼·log σ (float32).
    private double[] Install(float[] sigmas)
    {
        var n = sigmas.Length;
        _sigmas = new double[n + 1];
        var timesteps = new double[n];
        for (var i = 0; i < n; i++)
        {
            _sigmas[i] = sigmas[i];
            timesteps[i] = 0.25f * ReferenceFloat32.TorchLog(sigmas[i]);
        }
        _sigmas[n] = Config.FinalSigmasType == "sigma_min" ? SigmaMinFinal(sigmas[^1]) : 0;
        OnScheduleChanged();
        return timesteps;
    }

    /// <summary>Called after a new σ table is installed; precompute per-schedule values here.</summary>
    protected virtual void OnScheduleChanged() { }

    // σ of a listed timestep (the expected position first, else its first or second occurrence), else e^(4t).
    private float SigmaAt(double timestep, bool secondOccurrence = false)
    {
        var index = -1;
        for (var i = 0; i < Timesteps.Count; i++)
        {
            if (!TimestepMatches(Timesteps[i], timestep)) continue;
            if (index >= 0 && secondOccurrence) return (float)_sigmas[i];
            if (index < 0) index = i;
        }
        return index >= 0 ? (float)_sigmas[index] : (float)Math.Exp(4 * timestep);
    }

    // (x̂₀ − c_skip·x)/c_out.
    private readonly record struct Unconditioned(float Skip, float Output) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T denoised) where T : struct, IFloatVector<T> => (denoised - Skip * sample) / Output;
    }

    // c_skip·x + c_out·F.
    private readonly record struct Preconditioned(float Skip, float Output) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T modelOutput) where T : struct, IFloatVector<T> => Skip * sample + Output * modelOutput;
    }
}
