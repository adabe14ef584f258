using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The base of flow-matching samplers (<see cref="IFlowMatchingSampler"/>; Lipman et al. 2023, Liu et al. 2023, and
/// Stable Diffusion 3's shifted schedule, Esser et al. 2024): the shifted σ table, σ = t/N with N the training
/// timesteps, explicit σ and timestep lists, μ for dynamic shifting, the Karras / exponential / beta spacing, and the
/// forward process σ·ε + (1 − σ)·x₀. A sampler derived from it implements only its step.
/// </summary>
/// <remarks>
/// <para>Precision follows the reference (<c>diffusers</c>' FlowMatch*Scheduler): a count-based schedule is computed in
/// double (numpy float64) and rounded to float32 once; an explicit list is rounded to float32 first and shifted in float32
/// (numpy keeps a float32 array float32); the timesteps are σ·N in float32.</para>
/// <para>Two-evaluation samplers (Heun) list each interval but the last twice, as the reference does: timesteps
/// t₀, t₁, t₁, …, t_{n−1}, t_{n−1} and σ σ₀, σ₁, σ₁, …, σ_{n−1}, σ_{n−1}, 0.</para>
/// </remarks>
public abstract class FlowMatchSamplerBase : SamplerBase, IFlowMatchingSampler, IDenoisedOutputMapping
{
    private readonly bool _twoEvaluations, _fullSchedule;
    private readonly float _trainingSigmaMin, _trainingSigmaMax;
    private double[] _sigmas = [], _intervalSigmas = [];
    private int[] _callInterval = [];
    private double? _pendingMu;

    /// <summary>Validates the configuration and builds the shifted training table's ends.</summary>
    /// <param name="name">The sampler's registered name.</param>
    /// <param name="config">The configuration (a private copy is kept).</param>
    /// <param name="twoEvaluationsPerInterval">Whether each interval but the last takes two network evaluations (Heun).</param>
    /// <param name="fullSchedule">
    /// Whether the schedule options beyond <c>shift</c> apply: dynamic shifting, <c>shift_terminal</c>, <c>invert_sigmas</c>,
    /// the Karras / exponential / beta spacing and explicit lists (the reference's flow Heun has none of them).
    /// </param>
    protected FlowMatchSamplerBase(string name, SchedulerConfig config, bool twoEvaluationsPerInterval = false, bool fullSchedule = true)
        : base(name, config, offersFlowSigmas: true)
    {
        _twoEvaluations = twoEvaluationsPerInterval;
        _fullSchedule = fullSchedule;
        if (fullSchedule && new[] { Config.UseKarrasSigmas, Config.UseExponentialSigmas, Config.UseBetaSigmas }.Count(b => b == true) > 1)
            throw new SchedulerConfigException("use_karras_sigmas", "true with another sigma spacing", "at most one of use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas");

        // 1. The training table σ_i = i/N (i = N … 1) in float32, shifted unless the shift comes with μ at run time:
        //    its ends are the range every count-based schedule spans.
        var n = Schedule.NumTrainTimesteps;
        float first = 1f, last = 1f / n;
        if (!UsesDynamicShifting)
        {
            first = FlowShift.Constant(first, ShiftValue);
            last = FlowShift.Constant(last, ShiftValue);
        }
        (_trainingSigmaMax, _trainingSigmaMin) = (first, last);
    }

    /// <inheritdoc/>
    public IReadOnlyList<double> Sigmas => _sigmas;

    /// <summary>The noise levels the run steps between, σ₀ &gt; … &gt; σ_{n−1}, then the final σ; <see cref="Sigmas"/> for one-evaluation samplers.</summary>
    public IReadOnlyList<double> IntervalSigmas => _intervalSigmas;

    /// <inheritdoc/>
    public bool UsesDynamicShifting => _fullSchedule && Config.UseDynamicShifting == true;

    /// <summary>The smallest σ of the (shifted) training table.</summary>
    public double SigmaMin => _trainingSigmaMin;

    /// <summary>The largest σ of the (shifted) training table (1).</summary>
    public double SigmaMax => _trainingSigmaMax;

    /// <summary>The flow has no initial-noise factor: x_T is the noise itself.</summary>
    public override double InitNoiseSigma => 1.0;

    /// <inheritdoc/>
    public override int Order => _twoEvaluations ? 2 : 1;

    /// <summary>The constant shift s (<c>shift</c>, default 1).</summary>
    protected double ShiftValue => Config.Shift ?? 1.0;

    /// <summary>Whether the run ends at σ = 1 instead of 0 (<c>invert_sigmas</c>).</summary>
    protected bool Inverted => _fullSchedule && Config.InvertSigmas == true;

    /// <summary>Whether an explicit timestep list stays the timesteps (true: flow LCM) or is replaced by σ·N after the shift (false: flow Euler).</summary>
    protected virtual bool KeepsExplicitTimesteps => false;

    /// <summary>The interval a call belongs to (its σ is <c>IntervalSigmas[i]</c>, the next <c>IntervalSigmas[i + 1]</c>).</summary>
    protected int IntervalOf(int stepIndex) => _callInterval[stepIndex];

    /// <summary>Whether a call is the second evaluation of its interval (two-evaluation samplers).</summary>
    protected bool IsSecondEvaluation(int stepIndex) => stepIndex > 0 && _callInterval[stepIndex - 1] == _callInterval[stepIndex];

    /// <inheritdoc/>
    public void SetTimesteps(int numInferenceSteps, double? mu)
    {
        _pendingMu = mu;
        SetTimesteps(numInferenceSteps);
    }

    /// <inheritdoc/>
    public void SetTimesteps(IReadOnlyList<double> timesteps, double? mu)
    {
        _pendingMu = mu;
        SetTimesteps(timesteps);
    }

    /// <inheritdoc/>
    public void SetSigmas(IReadOnlyList<double> sigmas, double? mu = null)
    {
        RequireFullSchedule("sigmas");
        var list = SigmaMath.ValidateSigmas(sigmas);
        if (list[0] > 1)
            throw new SchedulerConfigException("sigmas[0]", Format(list[0]), "a flow σ in (0, 1]");
        _pendingMu = mu;
        var float32 = new float[list.Length];
        for (var i = 0; i < list.Length; i++) float32[i] = (float)list[i];
        ReplaceTimesteps(Build(ShiftFloat32(float32), null));
    }

    /// <summary>Flow timesteps are σ·N: strictly descending within (0, N].</summary>
    protected override void ValidateExplicitTimesteps(IReadOnlyList<double> timesteps)
    {
        RequireFullSchedule("timesteps");
        var n = Schedule.NumTrainTimesteps;
        if (timesteps.Count == 0) throw new SchedulerConfigException("timesteps", "[]", "a non-empty, strictly descending list");
        for (var i = 0; i < timesteps.Count; i++)
        {
            var t = timesteps[i];
            if (!(t > 0 && t <= n)) throw new SchedulerConfigException($"timesteps[{i}]", Format(t), $"a number in (0, {n}] (σ·num_train_timesteps)");
            if (i > 0 && !(t < timesteps[i - 1]))
                throw new SchedulerConfigException($"timesteps[{i}]", Format(t), $"a value below the previous one ({Format(timesteps[i - 1])}): the list must be strictly descending");
        }
    }

    /// <summary>1. σ = linspace(σ_max·N, σ_min·N, n)/N in double; 2.–4. shift, stretch, spacing; 5. float32.</summary>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        var n = Schedule.NumTrainTimesteps;
        var sigmas = TimestepSpacings.Linspace((double)_trainingSigmaMax * n, (double)_trainingSigmaMin * n, numInferenceSteps);
        for (var i = 0; i < sigmas.Length; i++) sigmas[i] /= n;
        var mu = TakeMu();
        for (var i = 0; i < sigmas.Length; i++)
            sigmas[i] = UsesDynamicShifting ? FlowShift.Dynamic(sigmas[i], mu, LinearTimeShift) : FlowShift.Constant(sigmas[i], _fullSchedule ? ShiftValue : ShiftValue);
        if (_fullSchedule && Config.ShiftTerminal is { } terminal && terminal != 0) FlowShift.StretchToTerminal(sigmas, terminal);
        sigmas = Spaced(sigmas);
        var float32 = new float[sigmas.Length];
        for (var i = 0; i < sigmas.Length; i++) float32[i] = (float)sigmas[i];
        return Build(float32, null);
    }

    /// <summary>An explicit timestep list: σ = t/N in float32, then shifted as an explicit σ list.</summary>
    protected override double[] UseExplicitTimesteps(double[] timesteps)
    {
        var n = Schedule.NumTrainTimesteps;
        var given = new float[timesteps.Length];
        var sigmas = new float[timesteps.Length];
        for (var i = 0; i < timesteps.Length; i++)
        {
            given[i] = (float)timesteps[i];
            sigmas[i] = given[i] / n;
        }
        return Build(ShiftFloat32(sigmas), KeepsExplicitTimesteps ? given : null);
    }

    /// <summary>
    /// The flow's forward process σ·ε + (1 − σ)·x₀ (the reference's <c>scale_noise</c>), σ of each item's timestep in the
    /// schedule (its second position where listed twice), or t/N for a timestep the schedule does not list.
    /// </summary>
    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        var itemLength = CheckAddNoise(original, noise, timesteps, destination);
        for (var b = 0; b < timesteps.Length; b++)
        {
            var sigma = SigmaOf(timesteps[b]);
            var range = new Range(b * itemLength, (b + 1) * itemLength);
            ElementWise.Apply(new ScaleNoise(sigma, 1 - sigma), noise[range], original[range], destination[range]);
        }
    }

    /// <summary>
    /// Before a step's arithmetic: the σ of this call and of the next (float32, as the reference's table holds them).
    /// </summary>
    protected (float Sigma, float Next) SigmasAt(int stepIndex) => ((float)_sigmas[stepIndex], (float)_sigmas[stepIndex + 1]);

    /// <summary>x̂₀ = x − σ·v at the timestep's σ.</summary>
    public void ToDenoised(double timestep, ReadOnlySpan<float> sample, ReadOnlySpan<float> modelOutput, Span<float> denoised) =>
        PredictOriginal(sample, modelOutput, SigmaOf(timestep), denoised);

    /// <summary>v = (x − x̂₀)/σ at the timestep's σ (x̂₀ itself where σ is 0, where the velocity no longer matters).</summary>
    public void FromDenoised(double timestep, ReadOnlySpan<float> sample, ReadOnlySpan<float> denoised, Span<float> modelOutput)
    {
        var sigma = SigmaOf(timestep);
        if (sigma == 0) denoised.CopyTo(modelOutput);
        else ElementWise.Apply(new VelocityOf(sigma), sample, denoised, modelOutput);
    }

    /// <summary>x̂₀ = x − σ·v, the velocity's clean sample (the product first, as the reference's tensor operations).</summary>
    protected static void PredictOriginal(ReadOnlySpan<float> sample, ReadOnlySpan<float> velocity, float sigma, Span<float> destination) =>
        ElementWise.Apply(new Denoise(sigma), sample, velocity, destination);

    /// <summary>
    /// x' = (1 − σ_next)·x̂₀ + σ_next·z with z one fresh draw from <paramref name="noise"/>: x̂₀ noised to σ_next along the flow
    /// (buffer <paramref name="scratchSlot"/> only for sources other than <see cref="TorchGaussianNoise"/>).
    /// </summary>
    protected void Renoise(ReadOnlySpan<float> x0, float next, INoiseSource noise, int scratchSlot, Span<float> destination) =>
        ApplyWithNoise(new RenoiseOperator(1 - next, next), noise, scratchSlot, x0, x0, destination);

    private bool LinearTimeShift => Config.TimeShiftType == "linear";

    private void RequireFullSchedule(string argument)
    {
        if (!_fullSchedule)
            throw new SchedulerConfigException(argument, "an explicit list", $"a step count: the '{Name}' sampler takes only a count, as the reference's does");
    }

    // μ given with this call (consumed, so that a later plain call does not reuse it), required under dynamic shifting.
    private double TakeMu()
    {
        var mu = _pendingMu;
        _pendingMu = null;
        if (!UsesDynamicShifting) return double.NaN;
        if (mu is not { } value || !double.IsFinite(value))
            throw new SchedulerConfigException("mu", mu is null ? "missing" : Format(mu.Value),
                $"a finite number given when timesteps are set: the '{Name}' sampler's configuration has use_dynamic_shifting (FlowShift.Mu computes μ from the image size)");
        return value;
    }

    // 2.–4. for a list the caller gave, as numpy keeps it: float32 arithmetic; the spacing, if any, in double.
    private float[] ShiftFloat32(float[] sigmas)
    {
        var mu = TakeMu();
        for (var i = 0; i < sigmas.Length; i++)
            sigmas[i] = UsesDynamicShifting ? FlowShift.Dynamic(sigmas[i], mu, LinearTimeShift) : FlowShift.Constant(sigmas[i], ShiftValue);
        if (Config.ShiftTerminal is { } terminal && terminal != 0) FlowShift.StretchToTerminal(sigmas, terminal);
        if (SpacingOf() is null) return sigmas;
        var spaced = Spaced(Array.ConvertAll(sigmas, s => (double)s));
        return Array.ConvertAll(spaced, s => (float)s);
    }

    private SigmaSpacing? SpacingOf() => !_fullSchedule ? null
        : Config.UseKarrasSigmas == true ? SigmaSpacing.Karras
        : Config.UseExponentialSigmas == true ? SigmaSpacing.Exponential
        : Config.UseBetaSigmas == true ? SigmaSpacing.Beta : null;

    // 4. Karras / exponential / beta σ between the schedule's first and last σ, as many as it has.
    private double[] Spaced(double[] sigmas) => SpacingOf() switch
    {
        SigmaSpacing.Karras => SigmaMath.Karras(sigmas[^1], sigmas[0], sigmas.Length),
        SigmaSpacing.Exponential => SigmaMath.Exponential(sigmas[^1], sigmas[0], sigmas.Length),
        SigmaSpacing.Beta => SigmaMath.Beta(sigmas[^1], sigmas[0], sigmas.Length),
        _ => sigmas,
    };

    // 5.–6. Timesteps σ·N (float32) unless kept, the inversion, the final σ, and the per-call layout.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double[] Build(float[] sigmas, float[]? keptTimesteps)
    {
        float n = Schedule.NumTrainTimesteps;
        var count = sigmas.Length;
        var timesteps = new double[count];
        var intervals = new double[count + 1];
        for (var i = 0; i < count; i++)
        {
            var sigma = Inverted ? 1 - sigmas[i] : sigmas[i];
            intervals[i] = sigma;
            timesteps[i] = keptTimesteps is not null && !Inverted ? keptTimesteps[i] : sigma * n;
        }
        intervals[count] = Inverted ? 1 : 0;
        _intervalSigmas = intervals;

        if (!_twoEvaluations)
        {
            _sigmas = intervals;
            _callInterval = Enumerable.Range(0, count).ToArray();
            OnScheduleChanged();
            return timesteps;
        }
        var calls = new double[2 * count - 1];
        var table = new double[2 * count];
        _callInterval = new int[2 * count - 1];
        calls[0] = timesteps[0];
        table[0] = intervals[0];
        for (var i = 1; i < count; i++)
        {
            // The second evaluation of interval i − 1 is at σ_i, then interval i starts there.
            calls[2 * i - 1] = calls[2 * i] = timesteps[i];
            table[2 * i - 1] = table[2 * i] = intervals[i];
            _callInterval[2 * i - 1] = i - 1;
            _callInterval[2 * i] = i;
        }
        table[^1] = intervals[count];
        _sigmas = table;
        OnScheduleChanged();
        return calls;
    }

    /// <summary>Called after a new schedule is installed (before the first step); precompute per-schedule values here.</summary>
    protected virtual void OnScheduleChanged() { }

    // σ of a timestep: its (second, where repeated) position in the schedule, else t/N.
    private float SigmaOf(double timestep)
    {
        var index = ScheduleIndex(timestep);
        return (float)(index >= 0 ? _sigmas[index] : timestep / Schedule.NumTrainTimesteps);
    }

    // The position of a timestep in the schedule, the second where it repeats (the reference's index_for_timestep), or −1.
    private int ScheduleIndex(double timestep)
    {
        var first = -1;
        for (var i = 0; i < Timesteps.Count; i++)
        {
            if (Timesteps[i] != timestep) continue;
            if (first >= 0) return i;
            first = i;
        }
        return first;
    }

    // (x − x̂₀)/σ.
    private readonly record struct VelocityOf(float Sigma) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T denoised) where T : struct, IFloatVector<T> => (sample - denoised) / Sigma;
    }

    private readonly record struct Denoise(float Sigma) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T velocity) where T : struct, IFloatVector<T> => sample - velocity * Sigma;
    }

    // (1 − σ_next)·x₀ + σ_next·z (the second input is unused: ApplyWithNoise's three-input form).
    private readonly record struct RenoiseOperator(float KeepX0, float Next) : ElementWise.IOperator3
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x0, T unused, T noise) where T : struct, IFloatVector<T> => x0 * KeepX0 + noise * Next;
    }

    // σ·ε + (1 − σ)·x₀, the products first, as the reference's three tensor operations.
    private readonly record struct ScaleNoise(float Sigma, float OneMinusSigma) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T noise, T original) where T : struct, IFloatVector<T> => noise * Sigma + original * OneMinusSigma;
    }
}
