using System.Numerics;
using System.Runtime.CompilerServices;
using System.Numerics.Tensors;
using Diffusion.Configuration;
using Diffusion.Noise;
using Diffusion.Numerics;
using Diffusion.Scheduling;
using Diffusion.Schedules;

namespace Diffusion.Samplers.Euler;

/// <summary>
/// What the Euler samplers share: they integrate in the variance-exploding view x = x_vp/√ᾱ, where the noise level is
/// σ = √((1−ᾱ)/ᾱ) and x ~ x₀ + σ·ε (Karras et al. 2022, https://arxiv.org/abs/2206.00364, §2). This class keeps the
/// σ table, the network-input scaling, the forward process in that view, x̂₀ from any prediction type and the
/// Euler update itself; the two samplers differ only in their σ table and in where one step lands.
/// </summary>
/// <remarks>
/// Public only because C# requires a public sampler's base type to be public; it cannot be derived from outside
/// this assembly. Precision follows the reference: its σ table and timesteps are float32, so both are kept as
/// float32 values here (a step must be called with exactly the timestep the sampler lists).
/// </remarks>
public abstract class EulerSchedulerBase : SchedulerBase, ISigmaScheduler
{
    // Scratch buffers: x̂₀ of a v model when the caller does not want it (an ε model's is computed inside the
    // update's pass), and (subclasses) fresh noise.
    private const int X0Slot = 0;
    private protected const int NoiseSlot = 1;

    private readonly double[] _trainingTimesteps;
    private readonly double[] _trainingSigmas;
    private double[] _sigmas = [];
    private int _next;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private protected EulerSchedulerBase(string name, SchedulerConfig config) : base(name, config)
    {
        // σ_t = √((1−ᾱ_t)/ᾱ_t) in float32 from the reference's float32 ᾱ: its rounding moves σ-derived timesteps by
        // many float32 units, and a step must be called with exactly the timestep the reference lists.
        var alphasCumprod = Float32Schedule.AlphasCumprod(Config);
        if (Config.RescaleBetasZeroSnr) alphasCumprod[^1] = SigmaMath.ZeroTerminalSnrAlphaCumprod;
        _trainingTimesteps = new double[alphasCumprod.Length];
        _trainingSigmas = new double[alphasCumprod.Length];
        for (var t = 0; t < alphasCumprod.Length; t++)
        {
            var alphaBar = (float)alphasCumprod[t];
            _trainingTimesteps[t] = t;
            _trainingSigmas[t] = MathF.Sqrt((1 - alphaBar) / alphaBar);
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<double> Sigmas => _sigmas;

    /// <inheritdoc/>
    public double SigmaMin => _trainingSigmas[0];

    /// <inheritdoc/>
    public double SigmaMax => _trainingSigmas[^1];

    /// <summary>
    /// σ_max for <c>linspace</c> and <c>trailing</c> spacing, whose first step is the last training step; √(σ_max²+1)
    /// for <c>leading</c>, as the reference does (the first step is then below T−1).
    /// </summary>
    public override double InitNoiseSigma
    {
        get
        {
            var max = TensorPrimitives.Max<double>(_sigmas.Length > 0 ? _sigmas : _trainingSigmas);
            return Spacing is TimestepSpacing.Linspace or TimestepSpacing.Trailing ? max : Math.Sqrt(max * max + 1);
        }
    }

    /// <summary>The timestep spacing in use: the configuration's, else <c>linspace</c>.</summary>
    protected TimestepSpacing Spacing => Config.TimestepSpacing ?? TimestepSpacing.Linspace;

    /// <summary>σ_t = √((1−ᾱ_t)/ᾱ_t) of every training timestep, ascending in t (with the zero-terminal-SNR cap applied).</summary>
    protected ReadOnlySpan<double> TrainingSigmas => _trainingSigmas;

    /// <summary>
    /// The network sees the variance-preserving sample x/√(σ²+1), where σ is the noise level of the step at
    /// <paramref name="timestep"/>.
    /// </summary>
    public override void ScaleModelInput(ReadOnlySpan<float> sample, double timestep, Span<float> destination) =>
        PredictionMath.Divide(sample, MathF.Sqrt(Square((float)SigmaAt(timestep, _next)) + 1), destination);

    /// <summary>
    /// The forward process in this view: x = x₀ + σ·ε, with σ of each item's timestep: the schedule's σ for a listed
    /// timestep, else σ_t of the training schedule (linear between integer timesteps).
    /// </summary>
    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        var itemLength = CheckAddNoise(original, noise, timesteps, destination);
        for (var b = 0; b < timesteps.Length; b++)
        {
            var range = new Range(b * itemLength, (b + 1) * itemLength);
            TensorPrimitives.MultiplyAdd(noise[range], (float)SigmaAt(timesteps[b], 0), original[range], destination[range]);
        }
    }

    /// <summary>
    /// The timesteps of a count-based schedule, and its σ table through <see cref="SetSigmas(ReadOnlySpan{double}, double)"/>. By default σ is σ_t
    /// at each timestep and the run ends at σ = 0.
    /// </summary>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        var timesteps = SpacedTimesteps(numInferenceSteps);
        SetSigmas(InterpolateSigmas(timesteps), 0);
        return timesteps;
    }

    /// <summary>An explicit list: σ_t at each timestep (linear between integer timesteps), then <see cref="FinalSigma"/>.</summary>
    protected override double[] UseExplicitTimesteps(double[] timesteps)
    {
        SetSigmas(InterpolateSigmas(timesteps), FinalSigma);
        return timesteps;
    }

    /// <summary>The σ the run ends at after the last step of an explicit list.</summary>
    protected virtual double FinalSigma => 0;

    /// <summary>
    /// The timesteps of the configured spacing, as float32 values like the reference's. Unlike the
    /// variance-preserving samplers, <c>linspace</c> is not rounded here, so timesteps may be fractional.
    /// </summary>
    protected double[] SpacedTimesteps(int numInferenceSteps)
    {
        var count = Schedule.NumTrainTimesteps;
        if (Spacing != TimestepSpacing.Linspace)
            return ToFloat32(TimestepSpacings.Create(Spacing, count, numInferenceSteps, Config.StepsOffset));
        // Ascending, then reversed, as the reference computes it (so the float32 values agree to the bit).
        var timesteps = TimestepSpacings.Linspace(0, count - 1, numInferenceSteps);
        Array.Reverse(timesteps);
        return ToFloat32(timesteps);
    }

    /// <summary>σ_t at each (fractional) timestep, by linear interpolation of the training table (numpy's <c>interp</c>).</summary>
    protected double[] InterpolateSigmas(ReadOnlySpan<double> timesteps)
    {
        var sigmas = new double[timesteps.Length];
        for (var i = 0; i < sigmas.Length; i++) sigmas[i] = SigmaMath.Interpolate(timesteps[i], _trainingTimesteps, _trainingSigmas);
        return sigmas;
    }

    /// <inheritdoc/>
    /// <remarks>Each timestep is the fractional training timestep of its σ (log-σ interpolation, as with Karras spacing).</remarks>
    public void SetSigmas(IReadOnlyList<double> sigmas)
    {
        var list = SigmaMath.ValidateSigmas(sigmas);
        var logSigmas = ReferenceFloat32.LogSigmas(TrainingSigmas);
        var timesteps = new double[list.Length];
        for (var i = 0; i < list.Length; i++) timesteps[i] = ReferenceFloat32.SigmaToTimestep(list[i], logSigmas);
        SetSigmas(list, FinalSigma);
        ReplaceTimesteps(ToFloat32(timesteps));
    }

    /// <summary>Installs the σ table of a new schedule: <paramref name="sigmas"/> then <paramref name="finalSigma"/>, held as float32 values.</summary>
    protected void SetSigmas(ReadOnlySpan<double> sigmas, double finalSigma)
    {
        var table = new double[sigmas.Length + 1];
        sigmas.CopyTo(table);
        table[^1] = finalSigma;
        _sigmas = ToFloat32(table);
    }

    /// <summary>Rounds every value to float32, the precision of the reference's timesteps and σ table.</summary>
    protected static double[] ToFloat32(double[] values)
    {
        for (var i = 0; i < values.Length; i++) values[i] = (float)values[i];
        return values;
    }

    /// <inheritdoc/>
    protected override void OnReset() => _next = 0;

    /// <summary>One step: x̂₀ from the network output, then the sampler's update from σ = Sigmas[stepIndex], in one pass over memory.</summary>
    protected sealed override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        _next = stepIndex + 1;
        float sigma = (float)_sigmas[stepIndex], sigmaNext = (float)_sigmas[stepIndex + 1];
        Advance(input.Sample, DenoisedOf(input.ModelOutput, input.Sample, sigma, output.PredictedOriginal), sigma, sigmaNext, output.PrevSample, noise);
        return !output.PredictedOriginal.IsEmpty;
    }

    /// <summary>Moves <paramref name="sample"/> at noise level <paramref name="sigma"/> towards <paramref name="sigmaNext"/>, given x̂₀.</summary>
    /// <param name="sample">The current sample x (may be the same memory as <paramref name="destination"/>).</param>
    /// <param name="x0">The denoised prediction x̂₀ = D(x; σ), computed inside the update's pass (<see cref="Denoised"/>).</param>
    /// <param name="sigma">The current noise level.</param>
    /// <param name="sigmaNext">The next entry of the σ table.</param>
    /// <param name="destination">Receives the next sample.</param>
    /// <param name="noise">Fresh noise, for stochastic samplers.</param>
    private protected abstract void Advance(ReadOnlySpan<float> sample, in Denoised x0, float sigma, float sigmaNext, Span<float> destination, INoiseSource noise);

    /// <summary>
    /// x̂₀ of one step: for an ε model not yet computed, x̂₀ = x − σ·ε evaluated per element inside the update's pass
    /// (and stored in <see cref="Store"/> when the caller asked for it); otherwise a tensor (<see cref="IsGiven"/>):
    /// the network output itself for an x₀ model, x̂₀ computed beforehand for a v model.
    /// </summary>
    private protected readonly ref struct Denoised
    {
        public Denoised(ReadOnlySpan<float> tensor, bool isGiven, float sigma, Span<float> store)
        {
            Tensor = tensor;
            IsGiven = isGiven;
            Sigma = sigma;
            Store = store;
        }

        /// <summary>x̂₀ when <see cref="IsGiven"/>, else the network's ε.</summary>
        public ReadOnlySpan<float> Tensor { get; }

        /// <summary>Whether <see cref="Tensor"/> is x̂₀ itself.</summary>
        public bool IsGiven { get; }

        /// <summary>σ of x̂₀ = x − σ·ε.</summary>
        public float Sigma { get; }

        /// <summary>Where x̂₀ goes, or empty.</summary>
        public Span<float> Store { get; }
    }

    // x̂₀ from the network output in this view, with the reference's float32 scalars: ε: x − σ·ε (as ε·(−σ) + x, in the
    // update's pass); x₀: as given; v: x/(σ²+1) − σ/√(σ²+1)·v (its c_skip and c_out; PredictionMath's √ᾱ·x_vp − √(1−ᾱ)·v
    // with x_vp = x/√(σ²+1)), computed first.
    private Denoised DenoisedOf(ReadOnlySpan<float> modelOutput, ReadOnlySpan<float> sample, float sigma, Span<float> store)
    {
        switch (Config.PredictionType)
        {
            case PredictionType.Epsilon:
                return new Denoised(modelOutput, false, sigma, store);
            case PredictionType.Sample:
                if (!store.IsEmpty) modelOutput.CopyTo(store);
                return new Denoised(modelOutput, true, sigma, default);
            case PredictionType.VPrediction:
                var x0 = store.IsEmpty ? Buffer(X0Slot, sample.Length) : store;
                var scale = Square(sigma) + 1;
                PredictionMath.Divide(sample, scale, x0);
                PredictionMath.MultiplyAdd(modelOutput, -sigma / MathF.Sqrt(scale), x0, x0);
                return new Denoised(x0, true, sigma, default);
            default:
                throw new InvalidOperationException($"Prediction type {Config.PredictionType} is not defined.");
        }
    }

    /// <summary>
    /// One Euler step of the probability-flow ODE dx/dσ = (x − x̂₀)/σ (Karras et al. 2022, eq. 4 with σ(t) = t) from σ
    /// to <paramref name="target"/>: d = (x − x̂₀)/σ, x' = x + (target − σ)·d.
    /// </summary>
    /// <remarks>
    /// Computed in this order with float32 scalars, as the reference does, rather than as the better-conditioned
    /// blend (target/σ)·x + (1 − target/σ)·x̂₀: at σ ≈ 2·10⁴ (the cosine schedule's first step) x + dt·d cancels
    /// four orders of magnitude, and the reference's rounding there is ~3e-3, more than the conformance tolerance.
    /// </remarks>
    private protected static void EulerStep(ReadOnlySpan<float> sample, in Denoised x0, float sigma, float target, Span<float> destination)
    {
        if (x0.IsGiven)
            ElementWise.Apply(new Euler(sigma, target - sigma, 0), sample, x0.Tensor, destination);
        else if (x0.Store.IsEmpty)
            ElementWise.Apply(new EulerFromEpsilon(-x0.Sigma, sigma, target - sigma, 0), x0.Tensor, sample, destination);
        else
            ElementWise.Apply(new EulerFromEpsilon(-x0.Sigma, sigma, target - sigma, 0), x0.Tensor, sample, destination, x0.Store);
    }

    /// <summary>The Euler step to <paramref name="target"/>, plus <paramref name="noiseScale"/>·<paramref name="noise"/>, in one pass.</summary>
    private protected static void EulerStep(ReadOnlySpan<float> sample, in Denoised x0, float sigma, float target, ReadOnlySpan<float> noise, float noiseScale,
        Span<float> destination)
    {
        if (x0.IsGiven)
            ElementWise.Apply(new Euler(sigma, target - sigma, noiseScale), sample, x0.Tensor, noise, destination);
        else if (x0.Store.IsEmpty)
            ElementWise.Apply(new EulerFromEpsilon(-x0.Sigma, sigma, target - sigma, noiseScale), x0.Tensor, sample, noise, destination);
        else
            ElementWise.Apply(new EulerFromEpsilon(-x0.Sigma, sigma, target - sigma, noiseScale), x0.Tensor, sample, noise, destination, x0.Store);
    }

    // d = (x − x̂₀)/σ; x' = d·(target − σ) + x [+ z·scale], with the roundings of one tensor operation per step of that.
    private readonly record struct Euler(float Sigma, float Step, float NoiseScale) : ElementWise.IOperator2, ElementWise.IOperator3
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector<float> Invoke(Vector<float> sample, Vector<float> x0) => (sample - x0) / Sigma * Step + sample;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector<float> Invoke(Vector<float> sample, Vector<float> x0, Vector<float> noise) => (sample - x0) / Sigma * Step + sample + noise * NoiseScale;
    }

    // The same step with an ε model's x̂₀ = ε·(−σ) + x computed in the pass (rounded as the tensor operation it
    // replaces), and optionally returned as the second result.
    private readonly record struct EulerFromEpsilon(float MinusSigma, float Sigma, float Step, float NoiseScale)
        : ElementWise.IOperator2, ElementWise.IOperator2To2, ElementWise.IOperator3, ElementWise.IOperator3To2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector<float> Invoke(Vector<float> epsilon, Vector<float> sample) => Invoke(epsilon, sample, out _);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector<float> Invoke(Vector<float> epsilon, Vector<float> sample, out Vector<float> x0)
        {
            x0 = epsilon * MinusSigma + sample;
            return (sample - x0) / Sigma * Step + sample;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector<float> Invoke(Vector<float> epsilon, Vector<float> sample, Vector<float> noise) => Invoke(epsilon, sample, noise, out _);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector<float> Invoke(Vector<float> epsilon, Vector<float> sample, Vector<float> noise, out Vector<float> x0)
        {
            x0 = epsilon * MinusSigma + sample;
            return (sample - x0) / Sigma * Step + sample + noise * NoiseScale;
        }
    }

    // σ of the step at a timestep: the expected step first (the one after the last step taken, which also settles
    // repeated timesteps), then anywhere in the schedule; before any schedule is set, or for a timestep the
    // schedule does not list, σ_t of the training table (the reference's initial, full-length schedule).
    private double SigmaAt(double timestep, int expected)
    {
        var timesteps = Timesteps;
        var index = expected < timesteps.Count && timesteps[expected] == timestep ? expected : IndexOf(timesteps, timestep);
        if (index >= 0) return _sigmas[index];
        if (!(timestep >= 0 && timestep <= Schedule.NumTrainTimesteps - 1))
            throw new SchedulerStateException($"Timestep {Format(timestep)} is neither in the '{Name}' sampler's schedule nor in [0, {Schedule.NumTrainTimesteps - 1}].");
        return SigmaMath.Interpolate(timestep, _trainingTimesteps, _trainingSigmas);
    }

    private static int IndexOf(IReadOnlyList<double> values, double value)
    {
        for (var i = 0; i < values.Count; i++)
            if (values[i] == value) return i;
        return -1;
    }

    private static float Square(float x) => x * x;
}
