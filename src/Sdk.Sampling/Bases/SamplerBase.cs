using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The bookkeeping every sampler shares, so that a sampler file holds only its method's math: the configuration
/// and schedule, the timestep list, which step comes next and its checks, reusable scratch buffers, and the
/// variance-preserving forward process. Derive from it, implement <see cref="CreateTimesteps"/> and
/// <see cref="Step(int, in StepInput, in StepOutput, INoiseSource)"/>, and reset any history in <see cref="OnReset"/>.
/// </summary>
public abstract class SamplerBase : ISampler
{
    private double[] _timesteps = [];
    private int _nextIndex;
    private int _stepsTaken;
    private float[]?[] _buffers = [];
    private int[] _bufferLengths = [];

    /// <summary>
    /// Validates <paramref name="config"/> (a private copy is kept) and builds its noise schedule. The sampler offers no
    /// flow σ: <c>use_flow_sigmas</c> true and <c>prediction_type</c> <c>flow_prediction</c> are refused.
    /// </summary>
    protected SamplerBase(string name, SchedulerConfig config) : this(name, config, offersFlowSigmas: false)
    {
    }

    /// <summary>
    /// Validates <paramref name="config"/> (a private copy is kept) and builds its noise schedule.
    /// <paramref name="offersFlowSigmas"/>: the sampler runs on flow σ (a flow-matching sampler, or one that honours
    /// <c>use_flow_sigmas</c> and checks its own combinations); otherwise <c>use_flow_sigmas</c> true and
    /// <c>flow_prediction</c> are refused with a <see cref="SchedulerConfigException"/>.
    /// </summary>
    protected SamplerBase(string name, SchedulerConfig config, bool offersFlowSigmas)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        if (!offersFlowSigmas && config.UseFlowSigmas == true)
            throw new SchedulerConfigException("use_flow_sigmas", "true", $"false: the '{name}' sampler has no flow σ (dpm-solver, dpm-solver-singlestep, deis, unipc and sa-solver offer them)");
        if (!offersFlowSigmas && config.PredictionType == PredictionType.FlowPrediction)
            throw new SchedulerConfigException("prediction_type", "\"flow_prediction\"",
                $"epsilon, sample or v_prediction for the '{name}' sampler (flow_prediction needs use_flow_sigmas on dpm-solver, dpm-solver-singlestep, deis, unipc or sa-solver, or a flow-matching sampler)");
        Name = name;
        Config = config.Clone();
        Schedule = NoiseSchedule.FromConfig(Config);
        _scalesModelInput = OverridesScaling.GetOrAdd(GetType(), static type =>
            type.GetMethod(nameof(ScaleModelInput), [typeof(ReadOnlySpan<float>), typeof(double), typeof(Span<float>)])!.DeclaringType != typeof(SamplerBase));
    }

    // Per sampler type: whether it overrides ScaleModelInput (looked up once; samplers are made per run).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, bool> OverridesScaling = new();

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public SchedulerConfig Config { get; }

    /// <inheritdoc/>
    public NoiseSchedule Schedule { get; }

    /// <inheritdoc/>
    public IReadOnlyList<double> Timesteps => _timesteps;

    /// <inheritdoc/>
    public virtual double InitNoiseSigma => 1.0;

    /// <inheritdoc/>
    public virtual int Order => 1;

    /// <summary>The number of inference steps of the last count-based <see cref="SetTimesteps(int)"/>, or null after an explicit list.</summary>
    protected int? NumInferenceSteps { get; private set; }

    /// <summary>Whether this sampler can run on an explicit timestep list (for example Karras-spaced timesteps).</summary>
    public virtual bool AcceptsExplicitTimesteps => true;

    /// <inheritdoc/>
    public void SetTimesteps(int numInferenceSteps)
    {
        SchedulerConfigValidation.ValidateInferenceSteps(numInferenceSteps, Schedule.NumTrainTimesteps);
        _timesteps = CreateTimesteps(numInferenceSteps);
        NumInferenceSteps = numInferenceSteps;
        Reset();
    }

    /// <inheritdoc/>
    public void SetTimesteps(IReadOnlyList<double> timesteps)
    {
        ArgumentNullException.ThrowIfNull(timesteps);
        if (!AcceptsExplicitTimesteps)
            throw new SchedulerConfigException("timesteps", "an explicit list", $"a step count: the '{Name}' sampler cannot run on an explicit timestep list");
        ValidateExplicitTimesteps(timesteps);
        _timesteps = UseExplicitTimesteps(timesteps.ToArray());
        NumInferenceSteps = null;
        Reset();
    }

    /// <summary>
    /// Installs timesteps the sampler derived itself (for example from an explicit σ list) and resets all state.
    /// Unlike <see cref="SetTimesteps(IReadOnlyList{double})"/> the list is not re-validated: the sampler vouches for it.
    /// </summary>
    protected void ReplaceTimesteps(double[] timesteps)
    {
        ArgumentNullException.ThrowIfNull(timesteps);
        if (timesteps.Length == 0) throw new ArgumentException("A schedule needs at least one timestep.", nameof(timesteps));
        _timesteps = timesteps;
        NumInferenceSteps = null;
        Reset();
    }

    /// <inheritdoc/>
    public void SetBeginIndex(int index)
    {
        if (_timesteps.Length == 0)
            throw new SamplerStateException($"The '{Name}' sampler has no timesteps: call SetTimesteps before SetBeginIndex.");
        if (_stepsTaken > 0)
            throw new SamplerStateException($"The '{Name}' sampler has already taken a step: set the begin index before the first step.");
        if (index < 0 || index >= _timesteps.Length)
            throw new SamplerStateException($"Begin index {index} is outside the '{Name}' sampler's {_timesteps.Length} timesteps (0 to {_timesteps.Length - 1}).");
        _nextIndex = index;
    }

    /// <inheritdoc/>
    public virtual void ScaleModelInput(ReadOnlySpan<float> sample, double timestep, Span<float> destination)
    {
        if (!sample.Overlaps(destination)) sample.CopyTo(destination);
    }

    /// <inheritdoc/>
    /// <remarks>False exactly when this type keeps the base's identity <see cref="ScaleModelInput"/>: a sampler (or a
    /// plugin) that overrides the scaling is asked for it without having to override this too.</remarks>
    public virtual bool ScalesModelInput(double timestep) => _scalesModelInput;

    private readonly bool _scalesModelInput;

    /// <inheritdoc/>
    /// <remarks>
    /// The per-call bookkeeping here and in the σ-space base is compiled optimized on first use: a run is a few dozen
    /// calls, too few for tiered compilation to replace the unoptimized first version while it lasts.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool Step(in StepInput input, in StepOutput output, INoiseSource noise)
    {
        ArgumentNullException.ThrowIfNull(noise);
        var index = BeginStep(input, output);
        var wrotePredictedOriginal = Step(index, input, output, noise);
        if (_nextIndex >= _timesteps.Length) ReturnBuffers();
        return wrotePredictedOriginal;
    }

    /// <inheritdoc/>
    public virtual void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        var itemLength = CheckAddNoise(original, noise, timesteps, destination);
        for (var b = 0; b < timesteps.Length; b++)
        {
            var t = TrainingIndex(timesteps[b]);
            var range = new Range(b * itemLength, (b + 1) * itemLength);
            PredictionMath.Combine((float)Schedule.SqrtAlphasCumprod[t], original[range], (float)Schedule.SqrtOneMinusAlphasCumprod[t], noise[range], destination[range]);
        }
    }

    /// <summary>The timesteps for a count-based schedule; <see cref="Config"/> says how to space them.</summary>
    protected abstract double[] CreateTimesteps(int numInferenceSteps);

    /// <summary>
    /// Checks an explicit timestep list before <see cref="UseExplicitTimesteps"/> sees it: by default non-empty, strictly
    /// descending and within [0, T−1]. A sampler whose timesteps live elsewhere (flow matching's σ·T, up to T) overrides it.
    /// </summary>
    /// <exception cref="SchedulerConfigException">The list is not valid; the message names the first bad entry.</exception>
    protected virtual void ValidateExplicitTimesteps(IReadOnlyList<double> timesteps) => ValidateExplicit(timesteps, Schedule.NumTrainTimesteps);

    /// <summary>Takes an explicit, validated, descending timestep list; override to derive per-step tables (such as sigmas) from it.</summary>
    protected virtual double[] UseExplicitTimesteps(double[] timesteps) => timesteps;

    /// <summary>The step's math. <paramref name="stepIndex"/> is the position of the input's timestep in <see cref="Timesteps"/>.</summary>
    protected abstract bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise);

    /// <summary>
    /// Where a run that starts part-way into the schedule (image-to-image) begins when its first timestep is
    /// <paramref name="timestep"/>: its first position by default, or −1 when it is not listed.
    /// </summary>
    protected virtual int FirstStepIndex(double timestep) => IndexOfTimestep(_timesteps, timestep);

    /// <summary>
    /// Whether <paramref name="given"/> names the listed timestep <paramref name="listed"/>: equal, or within 10⁻⁵ of it
    /// relative to max(1, |listed|). A step is identified by its position; this only tells a timestep that belongs
    /// there (the listed value, or its float32 copy, which is up to 6·10⁻⁸ relative away) from one that does not
    /// (distinct timesteps of a schedule are at least 10⁻⁴ relative apart).
    /// </summary>
    protected static bool IsSameTimestep(double listed, double given) =>
        listed == given || Math.Abs(listed - given) <= SameTimestepTolerance * Math.Max(1, Math.Abs(listed));

    private const double SameTimestepTolerance = 1e-5;

    /// <summary>
    /// The first position of <paramref name="timestep"/> in <paramref name="timesteps"/>: an exactly equal entry, else one
    /// that <see cref="IsSameTimestep"/> accepts (the closest), else −1.
    /// </summary>
    protected static int IndexOfTimestep(IReadOnlyList<double> timesteps, double timestep)
    {
        ArgumentNullException.ThrowIfNull(timesteps);
        int closest = -1;
        var distance = double.PositiveInfinity;
        for (var i = 0; i < timesteps.Count; i++)
        {
            if (timesteps[i] == timestep) return i;
            var d = Math.Abs(timesteps[i] - timestep);
            if (d < distance && IsSameTimestep(timesteps[i], timestep)) (closest, distance) = (i, d);
        }
        return closest;
    }

    /// <summary>
    /// Whether <paramref name="given"/>, the timestep a step is called with, is the <paramref name="listed"/> one: by default
    /// equal or within 10⁻⁵ relative (<see cref="IsSameTimestep"/>: a float32 copy of the listed value). A sampler whose
    /// timesteps the reference computes with transcendental functions that .NET does not round the same way (iPNDM's sin
    /// and atan2) may widen this, so the reference's own list drives it.
    /// </summary>
    protected virtual bool TimestepMatches(double listed, double given) => IsSameTimestep(listed, given);

    /// <summary>
    /// Whether two timesteps agree within float32 rounding of transcendental functions (10⁻⁶ relative, at least 10⁻⁶
    /// absolute): what <see cref="TimestepMatches"/> accepts for timesteps made by sin, atan2 or log.
    /// </summary>
    protected static bool WithinFloat32Rounding(double listed, double given) => Math.Abs(listed - given) <= 1e-6 * Math.Max(1, Math.Abs(listed));

    /// <summary>Clears the history of a previous run; called whenever timesteps are set.</summary>
    protected virtual void OnReset() { }

    /// <summary>
    /// A scratch buffer of <paramref name="length"/> floats, zeroed when first handed out in a run. The same slot
    /// returns the same memory on every call of a run while the length stays the same, so steps after the first
    /// allocate nothing.
    /// </summary>
    /// <remarks>
    /// The memory is rented from <see cref="ArrayPool{T}.Shared"/> and given back when the run's last step is taken
    /// or timesteps are set again; its contents do not outlive the run. A user's loop creates a sampler per run, and
    /// fresh buffers for every run cost a page fault per 4 KiB touched until the garbage collector first reuses the
    /// memory, which on a small latent is more than the steps' arithmetic (Heun's two 64 KiB buffers: about 0.5 µs
    /// per step call on 1×4×64×64). A sampler dropped part-way through a run leaves its buffers to the collector.
    /// </remarks>
    protected Span<float> Buffer(int slot, int length)
    {
        if (slot >= _buffers.Length)
        {
            Array.Resize(ref _buffers, slot + 1);
            Array.Resize(ref _bufferLengths, slot + 1);
        }
        ref var buffer = ref _buffers[slot];
        if (buffer is null || _bufferLengths[slot] != length)
        {
            if (buffer is not null) ArrayPool<float>.Shared.Return(buffer);
            buffer = ArrayPool<float>.Shared.Rent(length);
            buffer.AsSpan(0, length).Clear();
            _bufferLengths[slot] = length;
        }
        return buffer.AsSpan(0, length);
    }

    // Gives every scratch buffer back to the pool (the run is over, or a new one begins).
    private void ReturnBuffers()
    {
        for (var slot = 0; slot < _buffers.Length; slot++)
        {
            if (_buffers[slot] is not { } buffer) continue;
            ArrayPool<float>.Shared.Return(buffer);
            _buffers[slot] = null;
        }
    }

    /// <summary>
    /// destination[i] = op(a[i], b[i], z[i]), z being one fresh <see cref="INoiseSource.NextGaussian"/> draw of
    /// destination's length from <paramref name="noise"/>: the same values and the same generator state as drawing z
    /// into a buffer first. With <see cref="TorchGaussianNoise"/> the noise is generated and used a cache-sized piece at
    /// a time (no tensor of noise is written and read back, no buffer is needed); other sources fill buffer
    /// <paramref name="scratchSlot"/> (<see cref="Buffer"/>) and the formula runs over it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected void ApplyWithNoise<TOperator>(TOperator op, INoiseSource noise, int scratchSlot, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> destination)
        where TOperator : struct, ElementWise.IOperator3
    {
        ArgumentNullException.ThrowIfNull(noise);
        var n = destination.Length;
        if (noise is TorchGaussianNoise torch && n >= TorchGaussianNoise.MinChunkedLength && a.Length == n && b.Length == n)
        {
            for (var start = 0; start < n;)
            {
                var z = torch.NextChunk(n, start);
                ElementWise.Apply(op, a.Slice(start, z.Length), b.Slice(start, z.Length), z, destination.Slice(start, z.Length));
                start += z.Length;
            }
            return;
        }
        var buffer = Buffer(scratchSlot, n);
        noise.NextGaussian(buffer);
        ElementWise.Apply(op, a, b, (ReadOnlySpan<float>)buffer, destination);
    }

    /// <summary>(destination[i], second[i]) = op(a[i], b[i], z[i]), z drawn as in <see cref="ApplyWithNoise{TOperator}(TOperator, INoiseSource, int, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected void ApplyWithNoise<TOperator>(TOperator op, INoiseSource noise, int scratchSlot, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> destination,
        Span<float> second)
        where TOperator : struct, ElementWise.IOperator3To2
    {
        ArgumentNullException.ThrowIfNull(noise);
        var n = destination.Length;
        if (noise is TorchGaussianNoise torch && n >= TorchGaussianNoise.MinChunkedLength && a.Length == n && b.Length == n && second.Length == n)
        {
            for (var start = 0; start < n;)
            {
                var z = torch.NextChunk(n, start);
                var length = z.Length;
                ElementWise.Apply(op, a.Slice(start, length), b.Slice(start, length), z, destination.Slice(start, length), second.Slice(start, length));
                start += length;
            }
            return;
        }
        var buffer = Buffer(scratchSlot, n);
        noise.NextGaussian(buffer);
        ElementWise.Apply(op, a, b, (ReadOnlySpan<float>)buffer, destination, second);
    }

    /// <summary>destination[i] = op(a[i], b[i], c[i], z[i]), z drawn as in <see cref="ApplyWithNoise{TOperator}(TOperator, INoiseSource, int, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected void ApplyWithNoise<TOperator>(TOperator op, INoiseSource noise, int scratchSlot, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c,
        Span<float> destination)
        where TOperator : struct, ElementWise.IOperator4
    {
        ArgumentNullException.ThrowIfNull(noise);
        var n = destination.Length;
        if (noise is TorchGaussianNoise torch && n >= TorchGaussianNoise.MinChunkedLength && a.Length == n && b.Length == n && c.Length == n)
        {
            for (var start = 0; start < n;)
            {
                var z = torch.NextChunk(n, start);
                var length = z.Length;
                ElementWise.Apply(op, a.Slice(start, length), b.Slice(start, length), c.Slice(start, length), z, destination.Slice(start, length));
                start += length;
            }
            return;
        }
        var buffer = Buffer(scratchSlot, n);
        noise.NextGaussian(buffer);
        ElementWise.Apply(op, a, b, c, (ReadOnlySpan<float>)buffer, destination);
    }

    /// <summary>The training-timestep index of an integral timestep, checked against the schedule.</summary>
    protected int TrainingIndex(double timestep)
    {
        var t = (int)timestep;
        if (t != timestep || t < 0 || t >= Schedule.NumTrainTimesteps)
            throw new SamplerStateException($"Timestep {Format(timestep)} is not an integer in [0, {Schedule.NumTrainTimesteps - 1}], which the '{Name}' sampler needs.");
        return t;
    }

    /// <summary>The timestep after position <paramref name="stepIndex"/> in <see cref="Timesteps"/>, or −1 after the last.</summary>
    protected double NextTimestep(int stepIndex) => stepIndex + 1 < _timesteps.Length ? _timesteps[stepIndex + 1] : -1;

    /// <summary>ᾱ at a training index, with ᾱ = <paramref name="beforeFirst"/> for indices below 0 (the step after the last).</summary>
    protected double AlphaCumprodOrFinal(double timestep, double beforeFirst) =>
        timestep >= 0 ? Schedule.AlphasCumprod[TrainingIndex(timestep)] : beforeFirst;

    /// <summary>Formats a timestep for messages.</summary>
    protected static string Format(double timestep) => timestep.ToString("0.####", CultureInfo.InvariantCulture);

    private void Reset()
    {
        _nextIndex = 0;
        _stepsTaken = 0;
        ReturnBuffers();
        OnReset();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int BeginStep(in StepInput input, in StepOutput output)
    {
        if (_timesteps.Length == 0)
            throw new SamplerStateException($"The '{Name}' sampler has no timesteps: call SetTimesteps before Step.");
        var n = input.Sample.Length;
        // A stated batch size must divide the sample; an unstated one (0) is refused only where a step works per item.
        if (n == 0 || input.BatchSize < 0 || (input.BatchSize > 0 && n % input.BatchSize != 0))
            throw new ArgumentException($"The sample has {n} values, which is not a positive multiple of the batch size {input.BatchSize}.", nameof(input));
        if (Config.Thresholding) input.ItemCount("Dynamic thresholding");
        if (input.ModelOutput.Length != n)
            throw new ArgumentException($"The model output has {input.ModelOutput.Length} values but the sample has {n}; they must match.", nameof(input));
        if (output.PrevSample.Length != n)
            throw new ArgumentException($"The output buffer has {output.PrevSample.Length} values but the sample has {n}; they must match.", nameof(output));
        if (!output.PredictedOriginal.IsEmpty && output.PredictedOriginal.Length != n)
            throw new ArgumentException($"The predicted-x₀ buffer has {output.PredictedOriginal.Length} values but the sample has {n}; pass an empty span or one of the sample's length.", nameof(output));

        if (_nextIndex >= _timesteps.Length)
            throw new SamplerStateException($"The '{Name}' sampler has taken all {_timesteps.Length} steps; call SetTimesteps to start a new run.");
        // Steps are tracked by position, as the reference tracks its step index: the next step is the next entry of the
        // list, whatever other entries share its value (repeated timesteps, or KDPM2's midpoints a float32 unit from the
        // next timestep), and a float32 copy of the timestep names it as well as the double itself.
        var index = _nextIndex;
        if (!TimestepMatches(_timesteps[index], input.Timestep))
        {
            // The first step may start part-way into the schedule (image-to-image; SetBeginIndex picks among repeated
            // timesteps); after that, steps follow the list.
            index = _stepsTaken == 0 ? FirstStepIndex(input.Timestep) : -1;
            if (index < 0)
                throw new SamplerStateException(
                    $"Timestep {Format(input.Timestep)} is not the next step of the '{Name}' sampler: expected {Format(_timesteps[_nextIndex])} (step {_nextIndex + 1} of {_timesteps.Length}).");
        }
        _nextIndex = index + 1;
        _stepsTaken++;
        return index;
    }

    private static void ValidateExplicit(IReadOnlyList<double> timesteps, int numTrainTimesteps)
    {
        if (timesteps.Count == 0)
            throw new SchedulerConfigException("timesteps", "[]", "a non-empty, strictly descending list");
        for (var i = 0; i < timesteps.Count; i++)
        {
            var t = timesteps[i];
            if (!double.IsFinite(t) || t < 0 || t > numTrainTimesteps - 1)
                throw new SchedulerConfigException($"timesteps[{i}]", Format(t), $"a number in [0, {numTrainTimesteps - 1}]");
            if (i > 0 && !(t < timesteps[i - 1]))
                throw new SchedulerConfigException($"timesteps[{i}]", Format(t), $"a value below the previous one ({Format(timesteps[i - 1])}): the list must be strictly descending");
        }
    }

    /// <summary>Checks the arguments of <see cref="AddNoise"/> and returns the length of one batch item.</summary>
    protected static int CheckAddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        if (timesteps.IsEmpty || original.Length % timesteps.Length != 0)
            throw new ArgumentException($"{original.Length} values cannot be split into {timesteps.Length} batch items (one timestep per item).", nameof(timesteps));
        if (noise.Length != original.Length || destination.Length != original.Length)
            throw new ArgumentException($"original ({original.Length}), noise ({noise.Length}) and destination ({destination.Length}) must have the same length.");
        return original.Length / timesteps.Length;
    }
}
