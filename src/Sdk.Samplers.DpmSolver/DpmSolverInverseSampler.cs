using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Update = Diffusion.Sdk.Sampling.DpmSolverMultistepUpdate;

namespace Diffusion.Sdk.Samplers.DpmSolver;

/// <summary>
/// DPM-Solver multistep inversion (Lu et al. 2022, run from data to noise), as the reference's
/// <c>DPMSolverMultistepInverseScheduler</c>: ascending timesteps from 0 to the noisiest one that <c>lambda_min_clipped</c>
/// allows, σ by interpolation of the training table with that timestep's σ appended, and the multistep updates of
/// <see cref="DpmSolverMultistepUpdate"/> (orders 1 to 3, <c>dpmsolver++</c> or <c>dpmsolver</c>, midpoint or Heun).
/// Karras, exponential and beta σ ascend from the smallest to the largest training σ, the last repeated.
/// </summary>
/// <remarks>
/// As the reference: timesteps that repeat are dropped (Karras rounds first; exponential and beta truncate afterwards,
/// so some repeats stay), the σ table keeps every entry, and the last step is first order with <c>euler_at_final</c> or
/// with <c>lower_order_final</c> under 15 steps. The SDE variants are refused: the reference's take the square root of a
/// negative number from the first step (h &lt; 0). Flow σ are not offered here.
/// </remarks>
public sealed class DpmSolverInverseSampler : SamplerBase, ISigmaSampler
{
    private const int LowerOrderFinalStepLimit = 15;
    private const int HistoryBaseSlot = 0, ConvertedSlot = 3, ThresholdSlot = 4;

    private readonly IntegerTimestepSigmas _table;
    private readonly float[] _logSigmas;
    private readonly int _order, _noisiest;
    private readonly Update.Algorithm _algorithm;
    private readonly bool _heun;
    private readonly SigmaSpacing _spacing;
    // use_flow_sigmas: flow σ (α = 1 − σ), laid out as the reference's inverse lays them (descending, see CreateTimesteps).
    private readonly bool _flow;
    private double[] _sigmas = [];
    private int _newest, _lowerOrderNums;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> for an invalid configuration.</summary>
    public DpmSolverInverseSampler(SchedulerConfig config) : base(SamplerNames.DpmSolverInverse, config, offersFlowSigmas: true)
    {
        _order = Config.SolverOrder ?? 2;
        if (_order > 3) throw new SchedulerConfigException("solver_order", _order.ToString(System.Globalization.CultureInfo.InvariantCulture), "1, 2 or 3");
        _algorithm = Update.ParseAlgorithm(Config.AlgorithmType, "dpmsolver++", "dpmsolver");
        _heun = ConfigNames.RequireOneOf("solver_type", Config.SolverType ?? "midpoint", "midpoint", "heun") == "heun";
        _spacing = IntegerTimestepSigmas.SpacingOf(Config);
        _table = new IntegerTimestepSigmas(Config);
        _logSigmas = ReferenceFloat32.LogSigmas(_table.TrainingSigmas);
        _noisiest = NoisiestTimestep();
        _flow = Config.UseFlowSigmas == true;
        if (Config.PredictionType == PredictionType.FlowPrediction && !(_flow && Update.PredictsData(_algorithm)))
            throw new SchedulerConfigException("prediction_type", "\"flow_prediction\"", "epsilon, sample or v_prediction, or flow_prediction with use_flow_sigmas and dpmsolver++");
        if (_flow && _spacing != SigmaSpacing.Timesteps)
            throw new SchedulerConfigException("use_flow_sigmas", "true", "false with use_karras_sigmas, use_exponential_sigmas or use_beta_sigmas (one noise-level spacing at a time)");
    }

    // The noise level of a table entry: flow (α = 1 − σ, σ_t = σ) or variance preserving.
    private Update.Level LevelOf(double sigma) => _flow ? Update.Level.Flow((float)sigma) : Update.Level.VariancePreserving((float)sigma);

    /// <inheritdoc/>
    public IReadOnlyList<double> Sigmas => _sigmas;

    /// <inheritdoc/>
    public double SigmaMin => _table.SigmaMin;

    /// <inheritdoc/>
    public double SigmaMax => _table.SigmaMax;

    /// <summary>Explicit lists are not offered (the reference takes only a count).</summary>
    public override bool AcceptsExplicitTimesteps => false;

    /// <inheritdoc/>
    /// <exception cref="NotSupportedException">Always: an inversion's σ ascend, which the descending σ-list contract cannot express.</exception>
    public void SetSigmas(IReadOnlyList<double> sigmas) =>
        throw new NotSupportedException($"The '{Name}' sampler takes only a step count: its noise levels ascend.");

    /// <summary>α_t·x₀ + σ_t·ε at the table's σ of each item's timestep (its second position where repeated, the last σ where absent).</summary>
    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        var itemLength = CheckAddNoise(original, noise, timesteps, destination);
        for (var b = 0; b < timesteps.Length; b++)
        {
            var index = IntegerTimestepSigmas.IndexOf(Timesteps, timesteps[b]);
            var level = LevelOf(_sigmas[index >= 0 ? index : Timesteps.Count - 1]);
            var range = new Range(b * itemLength, (b + 1) * itemLength);
            PredictionMath.Combine(level.Alpha, original[range], level.Sigma, noise[range], destination[range]);
        }
    }

    /// <summary>The ascending timesteps and their σ table, as the reference lays them out.</summary>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        var n = numInferenceSteps;
        var train = _table.TrainingSigmas;
        double[] timesteps, sigmas;
        if (_flow)
        {
            // 1''. Flow σ as the reference's inverse makes them: the forward sampler's shifted flow σ, descending (the
            //      reference does not reverse them here), the last repeated; timesteps σ·N. Reproduced as it is.
            var shift = Config.FlowShift ?? 1.0;
            var count = Schedule.NumTrainTimesteps;
            var flowSigmas = FlowShift.SolverFlowSigmas(n, count, shift);
            timesteps = Array.ConvertAll(flowSigmas, s => s * count);
            sigmas = [.. flowSigmas, flowSigmas[^1]];
        }
        else if (_spacing == SigmaSpacing.Timesteps)
        {
            // 1. Spaced timesteps up to the noisiest, σ interpolated at them, then the noisiest one's σ.
            timesteps = SpacedTimesteps(n);
            sigmas = [.. _table.SigmasAt(timesteps), train[_noisiest]];
        }
        else
        {
            // 1'. The σ spacing between the table's ends, ascending (the reference passes them swapped), the last repeated;
            //     each σ's timestep rounded (Karras) or left fractional to be truncated after the repeats are dropped.
            var spaced = _spacing switch
            {
                SigmaSpacing.Karras => SigmaMath.Karras(train[^1], train[0], n),
                SigmaSpacing.Exponential => SigmaMath.Exponential(train[^1], train[0], n),
                _ => SigmaMath.Beta(train[^1], train[0], n),
            };
            timesteps = Array.ConvertAll(spaced, s => ReferenceFloat32.SigmaToTimestep(s, _logSigmas));
            if (_spacing == SigmaSpacing.Karras) timesteps = Array.ConvertAll(timesteps, Math.Round);
            sigmas = [.. spaced, spaced[^1]];
        }
        _sigmas = Array.ConvertAll(sigmas, s => (double)(float)s);

        // 2. Repeated timesteps dropped (the first of each kept), then cast to whole steps.
        var kept = new List<double>(timesteps.Length);
        foreach (var t in timesteps)
            if (!kept.Contains(t)) kept.Add(t);
        return kept.Select(Math.Truncate).ToArray();
    }

    /// <inheritdoc/>
    protected override void OnReset() => (_newest, _lowerOrderNums) = (0, 0);

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        var n = input.Sample.Length;
        var steps = Timesteps.Count;

        // 1. The order: first at the end with euler_at_final or a short run's lower_order_final, and while the history fills.
        var lowerOrderFinal = Config.LowerOrderFinal ?? true;
        var lastFirstOrder = stepIndex == steps - 1 && (Config.EulerAtFinal == true || (lowerOrderFinal && steps < LowerOrderFinalStepLimit));
        var secondToLastLimited = stepIndex == steps - 2 && lowerOrderFinal && steps < LowerOrderFinalStepLimit;
        var order = _order == 1 || _lowerOrderNums < 1 || lastFirstOrder ? 1
            : _order == 2 || _lowerOrderNums < 2 || secondToLastLimited ? 2 : 3;

        // 2. The converted output (x̂₀ for ++, ε̂ otherwise) at this step's σ, thresholded where configured: the newest history entry.
        var s0 = LevelOf(_sigmas[stepIndex]);
        _newest = (_newest + 1) % _order;
        var m0 = Buffer(HistoryBaseSlot + _newest, n);
        Convert(input, s0, m0);
        var wantsX0 = !output.PredictedOriginal.IsEmpty && Update.PredictsData(_algorithm);
        if (wantsX0) m0.CopyTo(output.PredictedOriginal);

        // 3. The update of that order to the next σ.
        var t = LevelOf(_sigmas[stepIndex + 1]);
        var s1 = order >= 2 ? LevelOf(_sigmas[stepIndex - 1]) : default;
        var s2 = order >= 3 ? LevelOf(_sigmas[stepIndex - 2]) : default;
        var k = Update.For(_algorithm, _heun, order, t, s0, s1, s2);
        Update.Apply(k, order, input.Sample, m0, order >= 2 ? History(1, n) : default, order >= 3 ? History(2, n) : default, default, output.PrevSample);
        if (_lowerOrderNums < _order) _lowerOrderNums++;
        return wantsX0;
    }

    // x̂₀ (++) or ε̂ from the prediction type at α, σ, in the reference's float32 tensor operations; thresholding through x̂₀.
    private void Convert(in StepInput input, Update.Level level, Span<float> destination)
    {
        if (Update.PredictsData(_algorithm))
        {
            PredictionMath.ToSample(Config.PredictionType, input.ModelOutput, input.Sample, level.Alpha, level.Sigma, destination);
            if (Config.Thresholding) Threshold(destination, input.BatchSize);
            return;
        }
        PredictionMath.ToEpsilon(Config.PredictionType, input.ModelOutput, input.Sample, level.Alpha, level.Sigma, destination);
        if (!Config.Thresholding) return;
        var x0 = Buffer(ConvertedSlot, destination.Length);
        PredictionMath.ToSample(PredictionType.Epsilon, destination, input.Sample, level.Alpha, level.Sigma, x0);
        Threshold(x0, input.BatchSize);
        PredictionMath.ToEpsilon(PredictionType.Sample, x0, input.Sample, level.Alpha, level.Sigma, destination);
    }

    private void Threshold(Span<float> x0, int batchSize) =>
        SampleThresholding.Dynamic(x0, batchSize, Config.DynamicThresholdingRatio, Config.SampleMaxValue, Buffer(ThresholdSlot, x0.Length / batchSize));

    private ReadOnlySpan<float> History(int age, int length) => Buffer(HistoryBaseSlot + (_newest - age + 3 * _order) % _order, length);

    // The noisiest timestep whose λ = log α − log σ is at least lambda_min_clipped (T − 1 without clipping).
    private int NoisiestTimestep()
    {
        var clip = Config.LambdaMinClipped ?? double.NegativeInfinity;
        var alphasCumprod = Float32Schedule.AlphasCumprod(Config);
        var below = 0;
        for (var t = alphasCumprod.Length - 1; t >= 0; t--)
        {
            var alphaBar = (float)alphasCumprod[t];
            var lambda = MathF.Log(MathF.Sqrt(alphaBar)) - MathF.Log(MathF.Sqrt(1 - alphaBar));
            if (!(lambda < clip)) break;
            below++;
        }
        return Schedule.NumTrainTimesteps - 1 - below;
    }

    // linspace(0, noisiest, n + 1) rounded without its end; leading multiples of (noisiest + 1) // (n + 1) plus steps_offset;
    // trailing round(arange(noisiest + 1, 0, −T/n)) reversed, minus one.
    private double[] SpacedTimesteps(int n)
    {
        var train = Schedule.NumTrainTimesteps;
        switch (Config.TimestepSpacing ?? TimestepSpacing.Linspace)
        {
            case TimestepSpacing.Linspace:
                return TimestepSpacings.Linspace(0, _noisiest, n + 1).Take(n).Select(t => Math.Round(t, MidpointRounding.ToEven)).ToArray();
            case TimestepSpacing.Leading:
                var ratio = (_noisiest + 1) / (n + 1);
                return Enumerable.Range(0, n).Select(i => (double)(i * ratio + Config.StepsOffset)).ToArray();
            default:
                var step = (double)train / n;
                var count = (int)Math.Ceiling((0.0 - (_noisiest + 1)) / -step);
                var timesteps = new double[count];
                for (var i = 0; i < count; i++) timesteps[count - 1 - i] = Math.Round(_noisiest + 1 + i * -step, MidpointRounding.ToEven) - 1;
                return timesteps;
        }
    }
}
