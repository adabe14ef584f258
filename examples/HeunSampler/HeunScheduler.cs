using System.Numerics.Tensors;
using Diffusion;
using Diffusion.Configuration;
using Diffusion.Noise;
using Diffusion.Scheduling;
using Diffusion.Schedules;

namespace HeunSampler;

/// <summary>
/// Heun's second-order method on the probability-flow ODE dx/dσ = (x − D(x; σ))/σ (Karras et al. 2022, "Elucidating
/// the Design Space of Diffusion-Based Generative Models", https://arxiv.org/abs/2206.00364, Algorithm 1 with
/// S_churn = 0): from σ_i an Euler predictor x̃ = x + (σ_{i+1} − σ_i)·d_i, d_i = (x − D(x; σ_i))/σ_i, then the
/// trapezoidal corrector x_{i+1} = x + (σ_{i+1} − σ_i)·(d_i + d̃)/2 with d̃ = (x̃ − D(x̃; σ_{i+1}))/σ_{i+1}. The last
/// step, to σ = 0, is a plain Euler step. Deterministic: it never draws noise.
/// </summary>
/// <remarks>
/// <para>
/// One <see cref="IScheduler.Step"/> call is one network evaluation, so n steps of the method list 2n − 1 timesteps:
/// t₀, then every later timestep twice (first the corrector's evaluation of the predicted sample, then the next
/// predictor's evaluation of the corrected one), as the reference <c>HeunDiscreteScheduler</c> lists them.
/// <see cref="Sigmas"/> is interleaved the same way, one σ per listed timestep, then the final σ = 0: the network is
/// always evaluated at <c>Sigmas[k]</c> in call k. Samples live in the variance-exploding view x = x₀ + σ·ε; the
/// network sees x/√(σ² + 1) (<see cref="ScaleModelInput"/>).
/// </para>
/// <para>
/// Configuration: <c>timestep_spacing</c> (linspace by default, not rounded, so timesteps may be fractional; leading;
/// trailing), <c>use_karras_sigmas</c> with optional <c>sigma_min</c>/<c>sigma_max</c>, every <c>prediction_type</c>,
/// <c>clip_sample</c>/<c>clip_sample_range</c> on x̂₀, and zero-terminal-SNR schedules (the last ᾱ is taken as 2⁻²⁴ so
/// that σ_max stays finite).
/// </para>
/// <para>
/// Image-to-image: a run may start at any listed timestep. A timestep listed twice is found at its first position,
/// which is a corrector's; with no prediction to correct that call leaves the sample where it is, and the run goes on
/// with the same timestep (one extra evaluation), so start from the first position of a timestep.
/// </para>
/// </remarks>
public sealed class HeunScheduler : SchedulerBase, ISigmaScheduler
{
    /// <summary>The name the plugin registers: <c>heun</c>.</summary>
    public const string SamplerName = "heun";

    /// <summary>The reference class name (<c>_class_name</c>) that selects this sampler.</summary>
    public const string ReferenceClassName = "HeunDiscreteScheduler";

    // ᾱ of the last training step under zero-terminal-SNR rescaling: 2⁻²⁴ instead of 0, so that σ_max stays finite.
    private const double ZeroSnrAlphaCumprod = 1.0 / (1 << 24);

    // Scratch buffers: x̂₀ when the caller does not want it, the predictor's derivative, the corrector's derivative,
    // and the sample the predictor started from (the output may overwrite the caller's copy).
    private const int X0Slot = 0, DerivativeSlot = 1, CorrectorSlot = 2, StartSlot = 3;

    private readonly double[] _trainingTimesteps;
    private readonly double[] _trainingSigmas;
    private readonly double[] _logSigmas;
    private readonly bool _karras;
    private double[] _sigmas = [];
    private int _next;
    private bool _predicted;
    private double _dt;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> for an invalid configuration.</summary>
    public HeunScheduler(SchedulerConfig config) : base(SamplerName, config)
    {
        var alphasCumprod = Schedule.AlphasCumprod;
        _trainingTimesteps = new double[alphasCumprod.Length];
        _trainingSigmas = new double[alphasCumprod.Length];
        _logSigmas = new double[alphasCumprod.Length];
        for (var t = 0; t < alphasCumprod.Length; t++)
        {
            var alphaBar = Math.Max(alphasCumprod[t], ZeroSnrAlphaCumprod);
            _trainingTimesteps[t] = t;
            _trainingSigmas[t] = Math.Sqrt((1 - alphaBar) / alphaBar);
            _logSigmas[t] = Math.Log(_trainingSigmas[t]);
        }
        _karras = Config.UseKarrasSigmas ?? false;
    }

    /// <inheritdoc/>
    public override int Order => 2;

    /// <inheritdoc/>
    public IReadOnlyList<double> Sigmas => _sigmas;

    /// <inheritdoc/>
    public double SigmaMin => _trainingSigmas[0];

    /// <inheritdoc/>
    public double SigmaMax => _trainingSigmas[^1];

    /// <summary>The largest σ of the schedule (of the training table before one is set); √(σ²+1) for <c>leading</c> spacing, as the reference.</summary>
    public override double InitNoiseSigma
    {
        get
        {
            var max = _sigmas.Length > 0 ? _sigmas.Max() : SigmaMax;
            return Spacing == TimestepSpacing.Leading ? Math.Sqrt(max * max + 1) : max;
        }
    }

    /// <summary>False with Karras σ, which choose their own noise levels.</summary>
    public override bool AcceptsExplicitTimesteps => !_karras;

    private TimestepSpacing Spacing => Config.TimestepSpacing ?? TimestepSpacing.Linspace;

    /// <summary>The network sees x/√(σ² + 1), with σ of the step at <paramref name="timestep"/>.</summary>
    public override void ScaleModelInput(ReadOnlySpan<float> sample, double timestep, Span<float> destination) =>
        TensorPrimitives.Divide(sample, (float)Math.Sqrt(Square(SigmaAt(timestep)) + 1), destination);

    /// <summary>The forward process in this view: x = x₀ + σ·ε, σ of each item's timestep (listed, else the training table's).</summary>
    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        var itemLength = CheckAddNoise(original, noise, timesteps, destination);
        for (var b = 0; b < timesteps.Length; b++)
        {
            var range = new Range(b * itemLength, (b + 1) * itemLength);
            TensorPrimitives.MultiplyAdd(noise[range], (float)SigmaAt(timesteps[b]), original[range], destination[range]);
        }
    }

    /// <inheritdoc/>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        var count = Schedule.NumTrainTimesteps;
        double[] timesteps;
        if (Spacing == TimestepSpacing.Linspace)
        {
            timesteps = TimestepSpacings.Linspace(0, count - 1, numInferenceSteps);
            Array.Reverse(timesteps);
        }
        else
        {
            timesteps = TimestepSpacings.Create(Spacing, count, numInferenceSteps, Config.StepsOffset);
        }
        var sigmas = InterpolateSigmas(timesteps);
        if (_karras)
        {
            // Karras et al. 2022 eq. 5 between the ends of that table (or the configured bounds); each timestep is then
            // the fractional training timestep of its σ.
            double sigmaMin = Config.SigmaMin ?? sigmas[^1], sigmaMax = Config.SigmaMax ?? sigmas[0];
            if (!(sigmaMin > 0 && sigmaMin < sigmaMax))
                throw new SchedulerConfigException(Config.SigmaMin is null ? "sigma_max" : "sigma_min", Format(Config.SigmaMin ?? sigmaMax),
                    $"a value that keeps 0 < sigma_min < sigma_max (this schedule's noise levels span [{Format(sigmas[^1])}, {Format(sigmas[0])}])");
            sigmas = SigmaMath.Karras(sigmaMin, sigmaMax, numInferenceSteps);
            for (var i = 0; i < sigmas.Length; i++) timesteps[i] = SigmaMath.SigmaToTimestep(sigmas[i], _logSigmas);
        }
        return Interleave(timesteps, sigmas);
    }

    /// <inheritdoc/>
    protected override double[] UseExplicitTimesteps(double[] timesteps) => Interleave(timesteps, InterpolateSigmas(timesteps));

    /// <inheritdoc/>
    /// <remarks>Each timestep is the fractional training timestep of its σ (log-σ interpolation); the run ends at σ = 0.</remarks>
    public void SetSigmas(IReadOnlyList<double> sigmas)
    {
        var list = SigmaMath.ValidateSigmas(sigmas);
        var timesteps = new double[list.Length];
        for (var i = 0; i < list.Length; i++) timesteps[i] = SigmaMath.SigmaToTimestep(list[i], _logSigmas);
        ReplaceTimesteps(Interleave(timesteps, list));
    }

    /// <inheritdoc/>
    protected override void OnReset()
    {
        _next = 0;
        _predicted = false;
    }

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        _next = stepIndex + 1;
        var n = input.Sample.Length;
        var x0 = output.PredictedOriginal.IsEmpty ? Buffer(X0Slot, n) : output.PredictedOriginal;
        var sigma = _sigmas[stepIndex];
        PredictOriginal(input.ModelOutput, input.Sample, sigma, x0);

        // Odd positions evaluate the predicted sample. One that has no prediction to correct starts an image-to-image
        // run at the first of a repeated timestep: stay at σ (the next call evaluates the same noise level again).
        if (stepIndex % 2 == 1 && !_predicted)
        {
            if (!input.Sample.Overlaps(output.PrevSample)) input.Sample.CopyTo(output.PrevSample);
            return !output.PredictedOriginal.IsEmpty;
        }

        if (_predicted)
        {
            // Corrector at σ_{i+1}: the trapezoid of the two slopes, from the sample the predictor started at.
            var corrector = Buffer(CorrectorSlot, n);
            Slope(input.Sample, x0, sigma, corrector);
            TensorPrimitives.Add(corrector, Buffer(DerivativeSlot, n), corrector);
            TensorPrimitives.MultiplyAdd(corrector, (float)(_dt / 2), Buffer(StartSlot, n), output.PrevSample);
            _predicted = false;
            return !output.PredictedOriginal.IsEmpty;
        }

        // Predictor: an Euler step from σ_i to σ_{i+1}; to σ = 0 it is the whole (last) step.
        var sigmaNext = _sigmas[stepIndex + 1];
        var derivative = Buffer(DerivativeSlot, n);
        Slope(input.Sample, x0, sigma, derivative);
        _dt = sigmaNext - sigma;
        if (sigmaNext > 0)
        {
            input.Sample.CopyTo(Buffer(StartSlot, n));
            _predicted = true;
        }
        TensorPrimitives.MultiplyAdd(derivative, (float)_dt, input.Sample, output.PrevSample);
        return !output.PredictedOriginal.IsEmpty;
    }

    // d = (x − x̂₀)/σ, the slope of the probability-flow ODE in σ.
    private static void Slope(ReadOnlySpan<float> sample, ReadOnlySpan<float> x0, double sigma, Span<float> destination)
    {
        TensorPrimitives.Subtract(sample, x0, destination);
        TensorPrimitives.Divide(destination, (float)sigma, destination);
    }

    // x̂₀ = D(x; σ) from the network output in this view: ε: x − σ·ε; x₀: as given; v: x/(σ²+1) − σ/√(σ²+1)·v.
    // Then clip_sample, if configured.
    private void PredictOriginal(ReadOnlySpan<float> modelOutput, ReadOnlySpan<float> sample, double sigma, Span<float> destination)
    {
        switch (Config.PredictionType)
        {
            case PredictionType.Epsilon:
                TensorPrimitives.MultiplyAdd(modelOutput, (float)-sigma, sample, destination);
                break;
            case PredictionType.Sample:
                modelOutput.CopyTo(destination);
                break;
            case PredictionType.VPrediction:
                var scale = Square(sigma) + 1;
                TensorPrimitives.Multiply(sample, (float)(1 / scale), destination);
                TensorPrimitives.MultiplyAdd(modelOutput, (float)(-sigma / Math.Sqrt(scale)), destination, destination);
                break;
            default:
                throw new SchedulerConfigException("prediction_type", Config.PredictionType.ToString(), "epsilon, sample or v_prediction");
        }
        if (Config.ClipSample == true)
        {
            var limit = (float)Config.ClipSampleRange;
            TensorPrimitives.Min(destination, limit, destination);
            TensorPrimitives.Max(destination, -limit, destination);
        }
    }

    // t₀, t₁, t₁, …, t_{n−1}, t_{n−1}, and σ₀, σ₁, σ₁, …, σ_{n−1}, σ_{n−1}, 0: one entry per network evaluation.
    private double[] Interleave(double[] timesteps, double[] sigmas)
    {
        var n = timesteps.Length;
        var listed = new double[2 * n - 1];
        _sigmas = new double[2 * n];
        listed[0] = timesteps[0];
        _sigmas[0] = sigmas[0];
        for (var i = 1; i < n; i++)
        {
            listed[2 * i - 1] = listed[2 * i] = timesteps[i];
            _sigmas[2 * i - 1] = _sigmas[2 * i] = sigmas[i];
        }
        _sigmas[^1] = 0;
        return listed;
    }

    // σ_t at each (fractional) timestep, by linear interpolation of the training table (numpy's interp, as the reference).
    private double[] InterpolateSigmas(ReadOnlySpan<double> timesteps)
    {
        var sigmas = new double[timesteps.Length];
        for (var i = 0; i < sigmas.Length; i++) sigmas[i] = SigmaMath.Interpolate(timesteps[i], _trainingTimesteps, _trainingSigmas);
        return sigmas;
    }

    // σ of the step at a timestep: the expected step first, then anywhere in the schedule (a repeated timestep has one
    // σ); otherwise σ_t of the training table, for timesteps in [0, T−1].
    private double SigmaAt(double timestep)
    {
        var timesteps = Timesteps;
        if (_next < timesteps.Count && timesteps[_next] == timestep) return _sigmas[_next];
        for (var i = 0; i < timesteps.Count; i++)
            if (timesteps[i] == timestep) return _sigmas[i];
        if (!(timestep >= 0 && timestep <= Schedule.NumTrainTimesteps - 1))
            throw new SchedulerStateException($"Timestep {Format(timestep)} is neither in the '{Name}' sampler's schedule nor in [0, {Schedule.NumTrainTimesteps - 1}].");
        return SigmaMath.Interpolate(timestep, _trainingTimesteps, _trainingSigmas);
    }

    private static double Square(double x) => x * x;
}
