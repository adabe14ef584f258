using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The bookkeeping of the samplers that step in σ while showing the network whole training timesteps (UniPC, DEIS,
/// and any exponential-integrator solver): the σ table of the schedule (<see cref="IntegerTimestepSigmas"/>), the σ of
/// each step (at the spaced timesteps, or Karras / exponential / beta spaced over the whole table), its λ = −log σ,
/// explicit timesteps and σ lists, and the forward process at those σ. A derived sampler supplies only the σ after
/// the last step (<see cref="FinalSigma"/>) and its step.
/// </summary>
public abstract class SigmaTableSamplerBase : SamplerBase, ISigmaSampler
{
    private double[] _sigmas = [];
    private float[] _alphas = [], _sigmaTs = [], _lambdas = [];
    private bool _flowTable;

    /// <summary>Reads the σ options of <paramref name="config"/> (at most one of the three may be on).</summary>
    protected SigmaTableSamplerBase(string name, SchedulerConfig config) : this(name, config, offersFlowSigmas: false)
    {
    }

    /// <summary>
    /// Reads the σ options of <paramref name="config"/>; <paramref name="offersFlowSigmas"/>: the sampler honours
    /// <c>use_flow_sigmas</c> (it installs its flow σ with <see cref="InstallFlowSigmas"/>).
    /// </summary>
    protected SigmaTableSamplerBase(string name, SchedulerConfig config, bool offersFlowSigmas) : base(name, config, offersFlowSigmas)
    {
        Table = new IntegerTimestepSigmas(Config);
        SigmaSpacing = IntegerTimestepSigmas.SpacingOf(Config);
        if (SigmaSpacing != SigmaSpacing.Timesteps) Table.Spaced(SigmaSpacing, 2, Config.SigmaMin, Config.SigmaMax); // checks sigma_min < sigma_max now
    }

    /// <summary>The schedule's σ table.</summary>
    protected IntegerTimestepSigmas Table { get; }

    /// <summary>How the steps' σ are spaced.</summary>
    protected SigmaSpacing SigmaSpacing { get; }

    /// <inheritdoc/>
    public IReadOnlyList<double> Sigmas => _sigmas;

    /// <summary>α = 1/√(σ² + 1) of each entry of <see cref="Sigmas"/>, in the reference's float32 (<see cref="VpFloat32"/>).</summary>
    protected ReadOnlySpan<float> Alphas => _alphas;

    /// <summary>σ_t = σ·α of each entry of <see cref="Sigmas"/>, in the reference's float32.</summary>
    protected ReadOnlySpan<float> SigmaTs => _sigmaTs;

    /// <summary>λ = log α − log σ_t of each entry of <see cref="Sigmas"/> in torch's float32 (+∞ for a final σ of 0).</summary>
    protected ReadOnlySpan<float> Lambdas => _lambdas;

    /// <inheritdoc/>
    public double SigmaMin => Table.SigmaMin;

    /// <inheritdoc/>
    public double SigmaMax => Table.SigmaMax;

    /// <summary>False with a σ spacing, which chooses its own timesteps (the reference refuses both).</summary>
    public override bool AcceptsExplicitTimesteps => SigmaSpacing == SigmaSpacing.Timesteps;

    /// <summary>
    /// The σ after the last step, given the last step's σ. <paramref name="spaced"/>: the σ came from the configuration's
    /// σ spacing, whose end the reference treats differently from that of timesteps or an explicit σ list.
    /// </summary>
    protected abstract double FinalSigma(double lastSigma, bool spaced);

    /// <summary>
    /// The multistep solvers' <c>convert_model_output</c> (UniPC, SA-Solver): the network's output as x₀, dynamically
    /// thresholded when the configuration asks (per item, its scratch in <paramref name="thresholdSlot"/>), when
    /// <paramref name="toSample"/>; else as ε.
    /// </summary>
    /// <param name="input">The step's input (model output, sample, batch size).</param>
    /// <param name="toSample">Whether the solver works on data (x₀) rather than noise (ε) predictions.</param>
    /// <param name="alpha">α_t at the step's timestep.</param>
    /// <param name="sigma">σ_t at the step's timestep.</param>
    /// <param name="destination">Receives the converted prediction.</param>
    /// <param name="thresholdSlot">The <see cref="SamplerBase.Buffer"/> slot thresholding may use.</param>
    protected void ConvertModelOutput(in StepInput input, bool toSample, float alpha, float sigma, Span<float> destination, int thresholdSlot)
    {
        if (!toSample)
        {
            PredictionMath.ToEpsilon(Config.PredictionType, input.ModelOutput, input.Sample, alpha, sigma, destination);
            return;
        }
        PredictionMath.ToSample(Config.PredictionType, input.ModelOutput, input.Sample, alpha, sigma, destination);
        if (Config.Thresholding)
            SampleThresholding.Dynamic(destination, input.BatchSize, Config.DynamicThresholdingRatio, Config.SampleMaxValue,
                Buffer(thresholdSlot, destination.Length / input.BatchSize));
    }

    /// <inheritdoc/>
    /// <remarks>With a σ spacing the network is shown each σ's timestep, rounded (Karras) or truncated (exponential,
    /// beta) as the reference does, so neighbouring steps may share a timestep; the steps themselves use the exact σ.</remarks>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        if (SigmaSpacing != SigmaSpacing.Timesteps)
        {
            var spaced = Table.Spaced(SigmaSpacing, numInferenceSteps, Config.SigmaMin, Config.SigmaMax);
            Install(spaced, spaced: true);
            return Table.TimestepsFor(spaced, SigmaSpacing);
        }
        var timesteps = IntegerTimestepSigmas.SpacedTimesteps(Config.TimestepSpacing ?? TimestepSpacing.Linspace, Schedule.NumTrainTimesteps,
            numInferenceSteps, Config.StepsOffset);
        Install(Table.SigmasAt(timesteps), spaced: false);
        return timesteps;
    }

    /// <inheritdoc/>
    /// <remarks>σ at each timestep by linear interpolation of the table (exact at whole timesteps); fractional timesteps
    /// are kept as given (the reference would truncate them).</remarks>
    protected override double[] UseExplicitTimesteps(double[] timesteps)
    {
        Install(Table.SigmasAt(timesteps), spaced: false);
        return timesteps;
    }

    /// <inheritdoc/>
    /// <remarks>As with <c>use_karras_sigmas</c>, the steps use each σ exactly and the network sees the nearest whole
    /// timestep (which neighbouring σ may share); the final σ is the one a timestep schedule ends on.</remarks>
    public void SetSigmas(IReadOnlyList<double> sigmas)
    {
        if (Config.UseFlowSigmas == true)
            throw new SchedulerConfigException("sigmas", "a variance-exploding σ list", "flow σ with use_flow_sigmas: pass them to IFlowMatchingSampler.SetSigmas, or use a step count");
        var list = SigmaMath.ValidateSigmas(sigmas);
        var timesteps = Table.TimestepsFor(list, SigmaSpacing.Karras);
        Install(list, spaced: false);
        ReplaceTimesteps(timesteps);
    }

    /// <summary>
    /// The forward process at the σ the schedule uses for each timestep: x = α·x₀ + σ_vp·ε, α = 1/√(1+σ²), σ_vp = σ·α.
    /// A timestep of the schedule takes its σ from <see cref="Sigmas"/> (the second entry where it repeats, as the
    /// reference does); other timesteps, and all before timesteps are set, the training table's σ (the reference takes
    /// the last step's σ for them, which noises to the wrong level).
    /// </summary>
    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        var itemLength = CheckAddNoise(original, noise, timesteps, destination);
        for (var b = 0; b < timesteps.Length; b++)
        {
            var t = timesteps[b];
            if (!(t >= 0 && t <= Schedule.NumTrainTimesteps - 1))
                throw new SamplerStateException($"Timestep {Format(t)} is outside [0, {Schedule.NumTrainTimesteps - 1}].");
            var index = IntegerTimestepSigmas.IndexOf(Timesteps, t);
            // α and σ_t in float32 from the float32 σ, as the reference's add-noise forms them (flow σ: t/N off the schedule).
            var sigmaAt = index >= 0 ? _sigmas[index] : _flowTable ? t / Schedule.NumTrainTimesteps : Table.SigmaAt(t);
            var (alpha, sigma) = VpFloat32.AlphaSigma((float)sigmaAt, _flowTable);
            var range = new Range(b * itemLength, (b + 1) * itemLength);
            PredictionMath.Combine(alpha, original[range], sigma, noise[range], destination[range]);
        }
    }

    // The step σ, rounded to float32 as the reference holds them, then the final σ, and α, σ_t and λ of each in the
    // reference's float32 (its steps take them from 0-dimensional float32 tensors; with 2000 training steps, Karras σ or
    // the cosine schedule, neighbouring λ are close and double-precision step sizes miss its results).
    private void Install(double[] sigmas, bool spaced)
    {
        var table = new double[sigmas.Length + 1];
        for (var i = 0; i < sigmas.Length; i++) table[i] = (float)sigmas[i];
        table[^1] = (float)FinalSigma(table[^2], spaced);
        _sigmas = table;
        _flowTable = false;
        (_, _alphas, _sigmaTs, _lambdas) = VpFloat32.Tables(table);
    }

    /// <summary>
    /// Installs flow σ (<c>use_flow_sigmas</c>): the step σ and the final σ, rounded to float32, with α = 1 − σ, σ_t = σ
    /// and λ in the reference's float32; add-noise becomes the flow forward process (1 − σ)·x₀ + σ·ε.
    /// </summary>
    protected void InstallFlowSigmas(ReadOnlySpan<double> sigmas, double finalSigma)
    {
        var table = new double[sigmas.Length + 1];
        for (var i = 0; i < sigmas.Length; i++) table[i] = (float)sigmas[i];
        table[^1] = (float)finalSigma;
        _sigmas = table;
        _flowTable = true;
        (_, _alphas, _sigmaTs, _lambdas) = VpFloat32.Tables(table, flow: true);
    }
}
