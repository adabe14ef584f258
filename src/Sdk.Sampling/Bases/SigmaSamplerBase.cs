using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The base of k-diffusion-style samplers: they integrate in the variance-exploding view x = x_vp/√ᾱ, where the noise
/// level is σ = √((1−ᾱ)/ᾱ) and x ~ x₀ + σ·ε (Karras et al. 2022, https://arxiv.org/abs/2206.00364, §2). It keeps the
/// σ table, the network-input scaling x/√(σ²+1), the forward process in that view, x̂₀ from any prediction type, the
/// σ ↔ timestep mapping, the Karras / exponential / beta spacing between the right ends, the two-evaluation interval
/// structure of second-order single-step methods (Heun, KDPM2) and a history ring for multistep ones (LMS). A sampler
/// derived from it implements only <see cref="Advance"/>: where one evaluation takes the sample.
/// </summary>
/// <remarks>
/// <para>
/// Precision follows the reference (<c>diffusers</c>): its training σ table, spaced σ and timesteps are float32, so
/// they are kept as float32 values here, computed with the reference's roundings (<see cref="ReferenceFloat32"/>):
/// a step must be called with exactly the timestep the sampler lists.
/// </para>
/// <para>
/// Two-evaluation samplers list each interval σ_i → σ_{i+1} twice, the second time at the noise level
/// <see cref="SecondEvaluation"/> picks, except the last interval to σ = 0, which is one (Euler) evaluation.
/// <see cref="ISigmaSampler.Sigmas"/> holds the σ of every evaluation, then the final σ; <see cref="IntervalSigmas"/>
/// the σ_i the run steps between.
/// </para>
/// </remarks>
public abstract class SigmaSamplerBase : SamplerBase, ISigmaSampler
{
    // Slot 7, the last below the history, holds the unconditional x̂₀ of a CFG++ step (derived samplers use 2 to 6).
    private const int X0Slot = 0, StartSlot = 1, UnconditionalX0Slot = 7, HistoryBaseSlot = 8;

    /// <summary>The first buffer slot (<see cref="SamplerBase.Buffer"/>) free for a derived sampler's own scratch (up to 5 slots).</summary>
    protected const int FirstFreeBufferSlot = 2;

    private readonly double[] _trainingTimesteps;
    private readonly double[] _trainingSigmas;
    private readonly float[] _logTrainingSigmas;
    private readonly bool _twoEvaluations, _clipSample;
    // The final σ an explicit σ list named (its trailing 0), while that list is installed.
    private double? _explicitFinalSigma;
    private double[] _sigmas = [], _intervalSigmas = [];
    private int[] _callInterval = [];
    private bool[] _callSecond = [];
    private int _next, _openInterval = -1, _historyCount, _historyNewest;

    /// <summary>Validates the configuration and builds the float32 training σ table.</summary>
    /// <param name="name">The sampler's registered name.</param>
    /// <param name="config">The configuration (a private copy is kept).</param>
    /// <param name="twoEvaluationsPerInterval">Whether each interval but the last takes two network evaluations (Heun, KDPM2).</param>
    /// <param name="sigmaSpacings">Whether <c>use_karras_sigmas</c>, <c>use_exponential_sigmas</c> and <c>use_beta_sigmas</c> apply (the reference's Euler ancestral has none of them and ignores the keys).</param>
    /// <param name="clipSample">Whether <c>clip_sample</c> clamps x̂₀ to ±<c>clip_sample_range</c> (only where the reference sampler has the key).</param>
    protected SigmaSamplerBase(string name, SchedulerConfig config, bool twoEvaluationsPerInterval = false, bool sigmaSpacings = true, bool clipSample = false)
        : base(name, config)
    {
        _twoEvaluations = twoEvaluationsPerInterval;
        _clipSample = clipSample && Config.ClipSample == true;
        SigmaSpacing = sigmaSpacings ? IntegerTimestepSigmas.SpacingOf(Config) : SigmaSpacing.Timesteps;

        // σ_t = √((1−ᾱ_t)/ᾱ_t) in float32 from the reference's float32 ᾱ: its rounding moves σ-derived timesteps by
        // many float32 units, and a step must be called with exactly the timestep the reference lists.
        var tables = TrainingTables.For(Config);
        (_trainingTimesteps, _trainingSigmas, _logTrainingSigmas) = (tables.Timesteps, tables.Sigmas, tables.LogSigmas);
    }

    /// <summary>
    /// The training σ table of a β schedule (timesteps, σ_t, numpy's float32 log σ_t), shared read-only by the
    /// samplers built for the same schedule. A user's loop builds a fresh sampler per run, and these 1000-entry
    /// tables (a float32 division, square root and logarithm per entry) cost more than the run's setup otherwise;
    /// the last schedule's tables are kept. Trained β lists are not cached.
    /// </summary>
    private sealed record TrainingTables(BetaSchedule Schedule, double Start, double End, int Count, bool ZeroSnr,
        double[] Timesteps, double[] Sigmas, float[] LogSigmas)
    {
        private static volatile TrainingTables? s_last;

        public static TrainingTables For(SchedulerConfig config)
        {
            var last = s_last;
            if (config.TrainedBetas is null && last is not null && last.Schedule == config.BetaSchedule && last.Start.Equals(config.BetaStart)
                && last.End.Equals(config.BetaEnd) && last.Count == config.NumTrainTimesteps && last.ZeroSnr == config.RescaleBetasZeroSnr)
                return last;

            var alphasCumprod = Float32Schedule.AlphasCumprod(config);
            if (config.RescaleBetasZeroSnr) alphasCumprod[^1] = SigmaMath.ZeroTerminalSnrAlphaCumprod;
            var (timesteps, sigmas) = TrainingTable(alphasCumprod);
            var tables = new TrainingTables(config.BetaSchedule, config.BetaStart, config.BetaEnd, config.NumTrainTimesteps, config.RescaleBetasZeroSnr,
                timesteps, sigmas, ReferenceFloat32.LogSigmas(sigmas));
            if (config.TrainedBetas is null) s_last = tables;
            return tables;
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<double> Sigmas => _sigmas;

    /// <summary>The noise levels the run steps between, σ_0 &gt; … &gt; σ_{n−1}, then the final σ; <see cref="Sigmas"/> for one-evaluation samplers.</summary>
    public IReadOnlyList<double> IntervalSigmas => _intervalSigmas;

    /// <inheritdoc/>
    public double SigmaMin => _trainingSigmas[0];

    /// <inheritdoc/>
    public double SigmaMax => _trainingSigmas[^1];

    /// <summary>The σ spacing of count-based schedules, from the configuration.</summary>
    public SigmaSpacing SigmaSpacing { get; }

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

    /// <summary>False with Karras, exponential or beta σ, which choose their own noise levels.</summary>
    public override bool AcceptsExplicitTimesteps => SigmaSpacing == SigmaSpacing.Timesteps;

    /// <summary>The timestep spacing in use: the configuration's, else <c>linspace</c>.</summary>
    protected TimestepSpacing Spacing => Config.TimestepSpacing ?? TimestepSpacing.Linspace;

    /// <summary>σ_t = √((1−ᾱ_t)/ᾱ_t) of every training timestep, ascending in t (float32 values, zero-terminal-SNR cap applied).</summary>
    protected ReadOnlySpan<double> TrainingSigmas => _trainingSigmas;

    /// <summary>log σ_t of the training table as the reference holds it (numpy's float32 log).</summary>
    protected float[] LogTrainingSigmas => _logTrainingSigmas;

    /// <summary>The σ the run ends at (appended after the last spaced σ). Default 0.</summary>
    protected virtual double FinalSigma => 0;

    /// <summary>The network sees the variance-preserving sample x/√(σ²+1), σ of the evaluation at <paramref name="timestep"/>.</summary>
    /// <remarks>One <see cref="ElementWise"/> pass (IEEE division, as <c>TensorPrimitives.Divide</c>), compiled optimized on first use.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void ScaleModelInput(ReadOnlySpan<float> sample, double timestep, Span<float> destination) =>
        ElementWise.Apply(new DivideBy(MathF.Sqrt(Square((float)SigmaAt(timestep)) + 1)), sample, destination);

    /// <summary>
    /// The forward process in this view: x = x₀ + σ·ε. A listed timestep takes the σ of its interval boundary (σ_i
    /// for a first evaluation, σ_{i+1} for a second, as the reference's σ table lists them), at its second position
    /// where it is listed twice; other timesteps take σ_t of the training table (linear between integers).
    /// </summary>
    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        var itemLength = CheckAddNoise(original, noise, timesteps, destination);
        for (var b = 0; b < timesteps.Length; b++)
        {
            var index = ScheduleIndex(timesteps[b]);
            var sigma = index >= 0 ? _intervalSigmas[_callInterval[index] + (_callSecond[index] ? 1 : 0)] : TrainingSigmaAt(timesteps[b]);
            var range = new Range(b * itemLength, (b + 1) * itemLength);
            TensorPrimitives.MultiplyAdd(noise[range], (float)sigma, original[range], destination[range]);
        }
    }

    /// <summary>
    /// Spaced timesteps, their σ (<see cref="ScheduleSigmas"/>), the configured σ spacing between that table's ends
    /// (or <c>sigma_min</c>/<c>sigma_max</c>) with each timestep then the training timestep of its σ, and the final σ.
    /// </summary>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        var timesteps = SpacedTimesteps(numInferenceSteps);
        var sigmas = ScheduleSigmas(timesteps, numInferenceSteps);
        if (SigmaSpacing != SigmaSpacing.Timesteps)
        {
            double sigmaMin = Config.SigmaMin ?? sigmas[^1], sigmaMax = Config.SigmaMax ?? sigmas[0];
            if (!(sigmaMin > 0 && sigmaMin < sigmaMax))
                throw new SchedulerConfigException(Config.SigmaMin is null ? "sigma_max" : "sigma_min", Format(Config.SigmaMin ?? sigmaMax),
                    $"a value that keeps 0 < sigma_min < sigma_max (this schedule's noise levels span [{Format(sigmas[^1])}, {Format(sigmas[0])}])");
            sigmas = SigmaSpacing switch
            {
                SigmaSpacing.Karras => SigmaMath.Karras(sigmaMin, sigmaMax, numInferenceSteps),
                SigmaSpacing.Exponential => SigmaMath.Exponential(sigmaMin, sigmaMax, numInferenceSteps),
                _ => SigmaMath.Beta(sigmaMin, sigmaMax, numInferenceSteps),
            };
            timesteps = TimestepsOfSpacedSigmas(sigmas);
        }
        return Install(timesteps, sigmas);
    }

    /// <summary>An explicit list: <see cref="ExplicitTimestepSigmas"/> (σ_t at each timestep), then <see cref="FinalSigma"/>.</summary>
    protected override double[] UseExplicitTimesteps(double[] timesteps) => Install(timesteps, ExplicitTimestepSigmas(timesteps));

    /// <summary>The σ of an explicit timestep list: σ_t at each timestep (linear between integer timesteps) by default. May return more σ than timesteps.</summary>
    protected virtual double[] ExplicitTimestepSigmas(double[] timesteps) => InterpolateSigmas(timesteps);

    /// <inheritdoc/>
    /// <remarks>Each timestep is the fractional training timestep of its σ (log-σ interpolation, as with Karras spacing).
    /// A list that ends in 0 (as the reference's pipelines pass Align-Your-Steps lists) names its own final σ: the
    /// entries before it are the steps' σ, and the run ends at 0 whatever <c>final_sigmas_type</c> says, as the reference's.</remarks>
    public void SetSigmas(IReadOnlyList<double> sigmas)
    {
        ArgumentNullException.ThrowIfNull(sigmas);
        var endsAtZero = sigmas.Count >= 2 && sigmas[^1] == 0;
        var list = SigmaMath.ValidateSigmas(endsAtZero ? sigmas.Take(sigmas.Count - 1).ToArray() : sigmas);
        _explicitFinalSigma = endsAtZero ? 0 : null;
        try
        {
            ReplaceTimesteps(Install(TimestepsOfExplicitSigmas(list), list));
        }
        finally
        {
            _explicitFinalSigma = null;
        }
    }

    /// <summary>The timestep of each σ of an explicit list (<see cref="SetSigmas"/>): the fractional training timestep as float32 by default.</summary>
    protected virtual double[] TimestepsOfExplicitSigmas(double[] sigmas)
    {
        var timesteps = new double[sigmas.Length];
        for (var i = 0; i < sigmas.Length; i++) timesteps[i] = ReferenceFloat32.SigmaToTimestep(sigmas[i], _logTrainingSigmas);
        return ToFloat32(timesteps);
    }

    /// <summary>σ of the spaced timesteps: σ_t interpolated linearly by default (numpy's <c>interp</c>). May return more σ than timesteps.</summary>
    protected virtual double[] ScheduleSigmas(double[] timesteps, int numInferenceSteps) => InterpolateSigmas(timesteps);

    /// <summary>The timestep of each Karras / exponential / beta σ: the fractional training timestep as float32. Override where the reference rounds otherwise.</summary>
    protected virtual double[] TimestepsOfSpacedSigmas(double[] sigmas)
    {
        var timesteps = new double[sigmas.Length];
        for (var i = 0; i < sigmas.Length; i++) timesteps[i] = ReferenceFloat32.SigmaToTimestep(sigmas[i], _logTrainingSigmas);
        return ToFloat32(timesteps);
    }

    /// <summary>
    /// Two-evaluation samplers: the noise level and timestep of interval <paramref name="interval"/>'s second evaluation,
    /// from its float32 ends <paramref name="sigma"/> → <paramref name="sigmaNext"/> (&gt; 0) and the next interval's
    /// timestep (NaN after the last listed one).
    /// </summary>
    protected virtual (double Sigma, double Timestep) SecondEvaluation(int interval, float sigma, float sigmaNext, double nextTimestep) =>
        throw new NotSupportedException($"The '{Name}' sampler takes two evaluations per interval and must say where the second one is.");

    /// <summary>
    /// Where one evaluation takes the sample: write the next sample to <see cref="SigmaStep.Destination"/>.
    /// </summary>
    /// <param name="step">The sample, x̂₀ and the evaluation's place in the σ table.</param>
    /// <param name="noise">Fresh noise, for stochastic samplers.</param>
    protected abstract void Advance(in SigmaStep step, INoiseSource noise);

    /// <summary>
    /// Whether <see cref="Advance"/> can take an ε model's output instead of x̂₀ (false by default). When true, and the
    /// model predicts ε, no clipping applies and the caller asked for no x̂₀, the base skips the x̂₀ pass: the step's
    /// <see cref="SigmaStep.Denoised"/> is empty and <see cref="SigmaStep.ModelOutput"/> holds ε, from which x̂₀ = x − σ·ε
    /// is formed inside the update (<see cref="EulerStepFromEpsilon(ReadOnlySpan{float}, ReadOnlySpan{float}, float, float, Span{float})"/>).
    /// </summary>
    protected virtual bool AdvancesFromEpsilon => false;

    /// <summary>How many past entries the history ring keeps (<see cref="PushHistory"/>); 0 by default.</summary>
    protected virtual int HistoryCapacity => 0;

    /// <summary>How many entries the history holds in this run (at most <see cref="HistoryCapacity"/>).</summary>
    protected int HistoryCount => _historyCount;

    /// <summary>Makes room for this evaluation's history entry and returns it (age 0); the oldest entry is dropped when full.</summary>
    protected Span<float> PushHistory(int length)
    {
        var capacity = HistoryCapacity;
        if (capacity < 1) throw new InvalidOperationException($"The '{Name}' sampler keeps no history (HistoryCapacity is 0).");
        // Every entry is made on the first push, so that the later steps of a sampler's first run allocate nothing either.
        if (_historyCount == 0)
            for (var slot = 0; slot < capacity; slot++) Buffer(HistoryBaseSlot + slot, length);
        _historyNewest = (_historyNewest + 1) % capacity;
        _historyCount = Math.Min(_historyCount + 1, capacity);
        return Buffer(HistoryBaseSlot + _historyNewest, length);
    }

    /// <summary>The history entry <paramref name="age"/> evaluations back (0 = the newest).</summary>
    protected Span<float> History(int age, int length)
    {
        if ((uint)age >= (uint)_historyCount) throw new ArgumentOutOfRangeException(nameof(age), age, $"The history holds {_historyCount} entries.");
        var capacity = HistoryCapacity;
        return Buffer(HistoryBaseSlot + (_historyNewest - age + capacity) % capacity, length);
    }

    /// <summary>
    /// Called whenever a new σ table is installed (timesteps set), before the run: precompute per-schedule tables here.
    /// </summary>
    protected virtual void OnScheduleChanged() { }

    /// <summary>
    /// The timesteps of the configured spacing, as float32 values like the reference's. Unlike the
    /// variance-preserving samplers, <c>linspace</c> is not rounded here, so timesteps may be fractional.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected double[] InterpolateSigmas(ReadOnlySpan<double> timesteps)
    {
        var sigmas = new double[timesteps.Length];
        for (var i = 0; i < sigmas.Length; i++) sigmas[i] = SigmaMath.Interpolate(timesteps[i], _trainingTimesteps, _trainingSigmas);
        return sigmas;
    }

    /// <summary>Rounds every value to float32, the precision of the reference's timesteps and σ table.</summary>
    protected static double[] ToFloat32(double[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        for (var i = 0; i < values.Length; i++) values[i] = (float)values[i];
        return values;
    }

    /// <inheritdoc/>
    protected override void OnReset()
    {
        _next = 0;
        _openInterval = -1;
        _historyCount = 0;
        _historyNewest = -1;
    }

    /// <summary>
    /// A run that starts part-way into the schedule on a timestep listed twice begins at its second position, as the
    /// reference's samplers do (for Heun the first evaluation of the interval, not a corrector with nothing to correct).
    /// </summary>
    protected override int FirstStepIndex(double timestep) => ScheduleIndex(timestep);

    /// <summary>One evaluation: x̂₀ from the network output at the evaluation's σ, then the sampler's <see cref="Advance"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected sealed override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        _next = stepIndex + 1;
        var n = input.Sample.Length;
        var interval = _callInterval[stepIndex];
        var second = _callSecond[stepIndex];
        var sigma = (float)_sigmas[stepIndex];
        // An ε model whose x̂₀ nobody asked for, with a sampler that forms it in its own pass: no x̂₀ tensor.
        // A CFG++ step (the loop passes the unconditional output only to a CFG++ sampler) needs both x̂₀ as tensors.
        var cfgPlusPlus = !input.UnconditionalOutput.IsEmpty;
        var direct = AdvancesFromEpsilon && output.PredictedOriginal.IsEmpty && Config.PredictionType == PredictionType.Epsilon && !_clipSample && !cfgPlusPlus;
        var x0 = direct ? Span<float>.Empty : output.PredictedOriginal.IsEmpty ? Buffer(X0Slot, n) : output.PredictedOriginal;
        if (!direct) PredictOriginal(input.ModelOutput, input.Sample, sigma, x0);
        var unconditionalX0 = Span<float>.Empty;
        if (cfgPlusPlus)
        {
            if (input.UnconditionalOutput.Length != n)
                throw new ArgumentException($"The unconditional output has {input.UnconditionalOutput.Length} values where the sample has {n}.", nameof(input));
            unconditionalX0 = Buffer(UnconditionalX0Slot, n);
            PredictOriginal(input.UnconditionalOutput, input.Sample, sigma, unconditionalX0);
        }

        float from = (float)_intervalSigmas[interval], to = (float)_intervalSigmas[interval + 1];
        var secondSigma = float.NaN;
        var start = Span<float>.Empty;
        if (_twoEvaluations && to > 0)
        {
            secondSigma = (float)_sigmas[second ? stepIndex : stepIndex + 1];
            start = Buffer(StartSlot, n);
            if (!second)
            {
                input.Sample.CopyTo(start);
                _openInterval = interval;
            }
            else if (_openInterval != interval)
            {
                // A run that starts on a second evaluation (image-to-image part-way into the schedule) has no first
                // one to complete: its sample is at σ_{i+1} (where AddNoise puts it), so it stays where it is.
                if (!input.Sample.Overlaps(output.PrevSample)) input.Sample.CopyTo(output.PrevSample);
                return !output.PredictedOriginal.IsEmpty;
            }
        }
        Advance(new SigmaStep
        {
            Sample = input.Sample, Denoised = x0, UnconditionalDenoised = unconditionalX0, ModelOutput = input.ModelOutput, Destination = output.PrevSample,
            IntervalStart = start, CallIndex = stepIndex,
            Interval = interval, IsSecondEvaluation = second, Sigma = sigma, SigmaFrom = from, SigmaTo = to, SecondSigma = secondSigma,
        }, noise);
        if (second) _openInterval = -1;
        return !output.PredictedOriginal.IsEmpty;
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
    protected static void EulerStep(ReadOnlySpan<float> sample, ReadOnlySpan<float> x0, float sigma, float target, Span<float> destination) =>
        ElementWise.Apply(new Euler(sigma, target - sigma, 0), sample, x0, destination);

    /// <summary>The Euler step to <paramref name="target"/>, plus <paramref name="noiseScale"/>·<paramref name="noise"/>, in one pass.</summary>
    protected static void EulerStep(ReadOnlySpan<float> sample, ReadOnlySpan<float> x0, float sigma, float target, ReadOnlySpan<float> noise, float noiseScale,
        Span<float> destination) =>
        ElementWise.Apply(new Euler(sigma, target - sigma, noiseScale), sample, x0, noise, destination);

    /// <summary>
    /// <see cref="EulerStep(ReadOnlySpan{float}, ReadOnlySpan{float}, float, float, Span{float})"/> from an ε model's
    /// output: x̂₀ = ε·(−σ) + x formed in the same pass, with the roundings of the separate x̂₀ tensor.
    /// </summary>
    protected static void EulerStepFromEpsilon(ReadOnlySpan<float> sample, ReadOnlySpan<float> epsilon, float sigma, float target, Span<float> destination) =>
        ElementWise.Apply(new EulerFromEpsilon(sigma, target - sigma, 0), sample, epsilon, destination);

    /// <summary>
    /// <see cref="EulerStep(ReadOnlySpan{float}, ReadOnlySpan{float}, float, float, INoiseSource, float, int, Span{float})"/>
    /// from an ε model's output, x̂₀ formed in the same pass.
    /// </summary>
    protected void EulerStepFromEpsilon(ReadOnlySpan<float> sample, ReadOnlySpan<float> epsilon, float sigma, float target, INoiseSource noise, float noiseScale,
        int scratchSlot, Span<float> destination) =>
        ApplyWithNoise(new EulerFromEpsilon(sigma, target - sigma, noiseScale), noise, scratchSlot, sample, epsilon, destination);

    /// <summary>
    /// The Euler step to <paramref name="target"/>, plus <paramref name="noiseScale"/>·z with z one fresh draw from
    /// <paramref name="noise"/>, drawn and added in the same pass (<see cref="SamplerBase.ApplyWithNoise{TOperator}(TOperator, INoiseSource, int, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float})"/>;
    /// buffer <paramref name="scratchSlot"/> only for sources other than <see cref="TorchGaussianNoise"/>).
    /// </summary>
    protected void EulerStep(ReadOnlySpan<float> sample, ReadOnlySpan<float> x0, float sigma, float target, INoiseSource noise, float noiseScale, int scratchSlot,
        Span<float> destination) =>
        ApplyWithNoise(new Euler(sigma, target - sigma, noiseScale), noise, scratchSlot, sample, x0, destination);

    /// <summary>
    /// The Euler step from <paramref name="start"/> with the slope d = (x − x̂₀)/<paramref name="sigma"/> of another
    /// sample x: start + <paramref name="step"/>·d [+ noise scale·z], in one pass (the update of the second evaluation
    /// of KDPM2-type methods).
    /// </summary>
    protected static void SlopeStep(ReadOnlySpan<float> start, ReadOnlySpan<float> sample, ReadOnlySpan<float> x0, float sigma, float step, Span<float> destination) =>
        ElementWise.Apply(new SlopeFrom(sigma, step, 0), sample, x0, start, destination);

    /// <inheritdoc cref="SlopeStep(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, float, float, Span{float})"/>
    protected static void SlopeStep(ReadOnlySpan<float> start, ReadOnlySpan<float> sample, ReadOnlySpan<float> x0, float sigma, float step, ReadOnlySpan<float> noise,
        float noiseScale, Span<float> destination) =>
        ElementWise.Apply(new SlopeFrom(sigma, step, noiseScale), sample, x0, start, noise, destination);

    /// <summary>
    /// <see cref="SlopeStep(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, float, float, ReadOnlySpan{float}, float, Span{float})"/>
    /// with z one fresh draw from <paramref name="noise"/>, drawn and added in the same pass (buffer
    /// <paramref name="scratchSlot"/> only for sources other than <see cref="TorchGaussianNoise"/>).
    /// </summary>
    protected void SlopeStep(ReadOnlySpan<float> start, ReadOnlySpan<float> sample, ReadOnlySpan<float> x0, float sigma, float step, INoiseSource noise, float noiseScale,
        int scratchSlot, Span<float> destination) =>
        ApplyWithNoise(new SlopeFrom(sigma, step, noiseScale), noise, scratchSlot, sample, x0, start, destination);

    /// <summary>
    /// <see cref="SlopeStep(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, float, float, Span{float})"/> from an ε
    /// model's output: x̂₀ = ε·(−σ) + x formed in the same pass, with the roundings of the separate x̂₀ tensor.
    /// </summary>
    protected static void SlopeStepFromEpsilon(ReadOnlySpan<float> start, ReadOnlySpan<float> sample, ReadOnlySpan<float> epsilon, float sigma, float step,
        Span<float> destination) =>
        ElementWise.Apply(new SlopeFromEpsilon(sigma, step, 0), sample, epsilon, start, destination);

    /// <summary>
    /// <see cref="SlopeStep(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, float, float, INoiseSource, float, int, Span{float})"/>
    /// from an ε model's output, x̂₀ formed in the same pass.
    /// </summary>
    protected void SlopeStepFromEpsilon(ReadOnlySpan<float> start, ReadOnlySpan<float> sample, ReadOnlySpan<float> epsilon, float sigma, float step, INoiseSource noise,
        float noiseScale, int scratchSlot, Span<float> destination) =>
        ApplyWithNoise(new SlopeFromEpsilon(sigma, step, noiseScale), noise, scratchSlot, sample, epsilon, start, destination);

    /// <summary>The ODE's slope d = (x − x̂₀)/σ, in one pass (the reference's two tensor operations, same rounding).</summary>
    protected static void Slope(ReadOnlySpan<float> sample, ReadOnlySpan<float> x0, float sigma, Span<float> destination) =>
        ElementWise.Apply(new SlopeOnly(sigma), sample, x0, destination);

    /// <summary>
    /// A CFG++ step (Chung et al. 2024): denoise to the guided x̂₀, re-noise to <paramref name="target"/> along the
    /// unconditional direction, x' = x̂₀ + target·(x − x̂₀ᵘ)/σ, rounded as k-diffusion's <c>to_d</c> then
    /// <c>denoised + d·σ_next</c>. Plain Euler is the same step with x̂₀ᵘ = x̂₀.
    /// </summary>
    protected static void CfgPlusPlusStep(ReadOnlySpan<float> sample, ReadOnlySpan<float> x0, ReadOnlySpan<float> unconditionalX0, float sigma, float target,
        Span<float> destination) =>
        ElementWise.Apply(new CfgPlusPlus(sigma, target, 0), sample, unconditionalX0, x0, destination);

    /// <summary>
    /// The CFG++ step to <paramref name="target"/> plus <paramref name="noiseScale"/>·z, z one fresh draw from
    /// <paramref name="noise"/> in the same pass (the ancestral form: target σ_down, scale σ_up).
    /// </summary>
    protected void CfgPlusPlusStep(ReadOnlySpan<float> sample, ReadOnlySpan<float> x0, ReadOnlySpan<float> unconditionalX0, float sigma, float target,
        INoiseSource noise, float noiseScale, int scratchSlot, Span<float> destination) =>
        ApplyWithNoise(new CfgPlusPlus(sigma, target, noiseScale), noise, scratchSlot, sample, unconditionalX0, x0, destination);

    /// <summary>
    /// k-diffusion's <c>get_ancestral_step</c> with η = 1, in the reference's float32 order: σ_up = √(σ_next²·(σ² − σ_next²)/σ²)
    /// and σ_down = √(σ_next² − σ_up²), clamped at 0 where rounding would make σ_down² negative.
    /// </summary>
    protected static (float Down, float Up) AncestralStep(float sigma, float sigmaNext)
    {
        var up = MathF.Sqrt(sigmaNext * sigmaNext * (sigma * sigma - sigmaNext * sigmaNext) / (sigma * sigma));
        return (MathF.Sqrt(MathF.Max(sigmaNext * sigmaNext - up * up, 0)), up);
    }

    // d = (x − x̂₀)/σ; x' = d·(target − σ) + x [+ z·scale], with the roundings of one tensor operation per step of that.
    private readonly record struct Euler(float Sigma, float Step, float NoiseScale) : ElementWise.IOperator2, ElementWise.IOperator3
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T x0) where T : struct, IFloatVector<T> => (sample - x0) / Sigma * Step + sample;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T x0, T noise) where T : struct, IFloatVector<T> => (sample - x0) / Sigma * Step + sample + noise * NoiseScale;
    }

    // d = (x − x̂₀ᵘ)/σ; x' = x̂₀ + d·target [+ z·scale].
    private readonly record struct CfgPlusPlus(float Sigma, float Target, float NoiseScale) : ElementWise.IOperator3, ElementWise.IOperator4
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T unconditionalX0, T x0) where T : struct, IFloatVector<T> => x0 + (sample - unconditionalX0) / Sigma * Target;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T unconditionalX0, T x0, T noise) where T : struct, IFloatVector<T> =>
            x0 + (sample - unconditionalX0) / Sigma * Target + noise * NoiseScale;
    }

    // x̂₀ = ε·(−σ) + x, then Euler as above: the roundings of the x̂₀ tensor followed by the step.
    private readonly record struct EulerFromEpsilon(float Sigma, float Step, float NoiseScale) : ElementWise.IOperator2, ElementWise.IOperator3
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T epsilon) where T : struct, IFloatVector<T> => (sample - (epsilon * -Sigma + sample)) / Sigma * Step + sample;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T epsilon, T noise) where T : struct, IFloatVector<T> =>
            (sample - (epsilon * -Sigma + sample)) / Sigma * Step + sample + noise * NoiseScale;
    }

    private readonly record struct SlopeOnly(float Sigma) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T x0) where T : struct, IFloatVector<T> => (sample - x0) / Sigma;
    }

    // d = (x − x̂₀)/σ; x' = start + d·step [+ z·scale].
    private readonly record struct SlopeFrom(float Sigma, float Step, float NoiseScale) : ElementWise.IOperator3, ElementWise.IOperator4
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T x0, T start) where T : struct, IFloatVector<T> => start + (sample - x0) / Sigma * Step;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T x0, T start, T noise) where T : struct, IFloatVector<T> => start + (sample - x0) / Sigma * Step + noise * NoiseScale;
    }

    // Timesteps 0…T−1 and their float32 σ; compiled optimized on first use, as a sampler's constructor runs too few
    // times per process to leave tier-0 code.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double[] Timesteps, double[] Sigmas) TrainingTable(double[] alphasCumprod)
    {
        var timesteps = new double[alphasCumprod.Length];
        var sigmas = new double[alphasCumprod.Length];
        for (var t = 0; t < alphasCumprod.Length; t++)
        {
            var alphaBar = (float)alphasCumprod[t];
            timesteps[t] = t;
            sigmas[t] = MathF.Sqrt((1 - alphaBar) / alphaBar);
        }
        return (timesteps, sigmas);
    }

    // x / s (the network-input scaling).
    private readonly record struct DivideBy(float Divisor) : ElementWise.IOperator1
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x) where T : struct, IFloatVector<T> => x / Divisor;
    }

    // ε → x̂₀: ε·(−σ) + x, the rounding of TensorPrimitives.MultiplyAdd (a product, then a sum; never fused).
    private readonly record struct EpsilonToDenoised(float MinusSigma) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T epsilon, T sample) where T : struct, IFloatVector<T> => epsilon * MinusSigma + sample;
    }

    // v → x̂₀: v·c_out + x/(σ²+1), the division first, as the two tensor operations it replaces.
    private readonly record struct VelocityToDenoised(float Scale, float COut) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T velocity, T sample) where T : struct, IFloatVector<T> => velocity * COut + sample / Scale;
    }

    // x̂₀ = ε·(−σ) + x, then SlopeFrom.
    private readonly record struct SlopeFromEpsilon(float Sigma, float Step, float NoiseScale) : ElementWise.IOperator3, ElementWise.IOperator4
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T epsilon, T start) where T : struct, IFloatVector<T> => start + (sample - (epsilon * -Sigma + sample)) / Sigma * Step;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T epsilon, T start, T noise) where T : struct, IFloatVector<T> =>
            start + (sample - (epsilon * -Sigma + sample)) / Sigma * Step + noise * NoiseScale;
    }

    // The σ table of a new schedule: the intervals (spaced σ then the final σ, as float32) and one entry per evaluation.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double[] Install(double[] timesteps, double[] sigmas)
    {
        var intervals = new double[sigmas.Length + 1];
        sigmas.CopyTo(intervals, 0);
        intervals[^1] = _explicitFinalSigma ?? FinalSigma;
        _intervalSigmas = ToFloat32(intervals);

        double[] calls;
        if (!_twoEvaluations)
        {
            // One evaluation per interval: the table is the intervals (Euler's log-linear table may have one σ more
            // than timesteps, and then never reaches its final σ, as the reference).
            calls = timesteps;
            _sigmas = _intervalSigmas;
            _callInterval = Enumerable.Range(0, timesteps.Length).ToArray();
            _callSecond = new bool[timesteps.Length];
        }
        else
        {
            var listed = new List<double>(2 * timesteps.Length);
            var callSigmas = new List<double>(2 * timesteps.Length + 1);
            var interval = new List<int>(2 * timesteps.Length);
            var secondFlags = new List<bool>(2 * timesteps.Length);
            for (var i = 0; i < timesteps.Length; i++)
            {
                listed.Add(timesteps[i]);
                callSigmas.Add(_intervalSigmas[i]);
                interval.Add(i);
                secondFlags.Add(false);
                float from = (float)_intervalSigmas[i], to = (float)_intervalSigmas[i + 1];
                if (!(to > 0)) continue;
                var (sigma, timestep) = SecondEvaluation(i, from, to, i + 1 < timesteps.Length ? timesteps[i + 1] : double.NaN);
                listed.Add(timestep);
                callSigmas.Add((float)sigma);
                interval.Add(i);
                secondFlags.Add(true);
            }
            callSigmas.Add(_intervalSigmas[timesteps.Length]);
            calls = listed.ToArray();
            _sigmas = callSigmas.ToArray();
            _callInterval = interval.ToArray();
            _callSecond = secondFlags.ToArray();
        }
        OnScheduleChanged();
        return calls;
    }

    // x̂₀ from the network output in this view, with the reference's float32 scalars: ε: x − σ·ε; x₀: as given;
    // v: x/(σ²+1) − σ/√(σ²+1)·v (its c_skip and c_out; PredictionMath's √ᾱ·x_vp − √(1−ᾱ)·v with x_vp = x/√(σ²+1)).
    private void PredictOriginal(ReadOnlySpan<float> modelOutput, ReadOnlySpan<float> sample, float sigma, Span<float> destination)
    {
        switch (Config.PredictionType)
        {
            case PredictionType.Epsilon:
                ElementWise.Apply(new EpsilonToDenoised(-sigma), modelOutput, sample, destination);
                break;
            case PredictionType.Sample:
                modelOutput.CopyTo(destination);
                break;
            case PredictionType.VPrediction:
                var scale = Square(sigma) + 1;
                ElementWise.Apply(new VelocityToDenoised(scale, -sigma / MathF.Sqrt(scale)), modelOutput, sample, destination);
                break;
            default:
                throw new InvalidOperationException($"Prediction type {Config.PredictionType} is not defined.");
        }
        if (_clipSample)
        {
            var limit = (float)Config.ClipSampleRange;
            TensorPrimitives.Min(destination, limit, destination);
            TensorPrimitives.Max(destination, -limit, destination);
        }
    }

    // σ of the evaluation at a timestep: the expected one first (the one after the last step taken, which also
    // settles repeated timesteps), then anywhere in the schedule; before any schedule is set, or for a timestep the
    // schedule does not list, σ_t of the training table (the reference's initial, full-length schedule).
    private double SigmaAt(double timestep)
    {
        var timesteps = Timesteps;
        var index = _next < timesteps.Count && IsSameTimestep(timesteps[_next], timestep) ? _next : IndexOfTimestep(timesteps, timestep);
        return index >= 0 ? _sigmas[index] : TrainingSigmaAt(timestep);
    }

    private double TrainingSigmaAt(double timestep)
    {
        if (!(timestep >= 0 && timestep <= Schedule.NumTrainTimesteps - 1))
            throw new SamplerStateException($"Timestep {Format(timestep)} is neither in the '{Name}' sampler's schedule nor in [0, {Schedule.NumTrainTimesteps - 1}].");
        return SigmaMath.Interpolate(timestep, _trainingTimesteps, _trainingSigmas);
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
        // Not listed exactly: a float32 copy of a listed timestep still names it.
        return first >= 0 ? first : IndexOfTimestep(Timesteps, timestep);
    }

    private static float Square(float x) => x * x;
}
