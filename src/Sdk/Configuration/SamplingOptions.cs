using System.Globalization;

namespace Diffusion.Configuration;

/// <summary>
/// One configuration for a whole sampling setup: the sampler, its schedule, the step count and the wrappers.
/// Bind it from <c>appsettings.json</c> (section <see cref="SectionName"/>, PascalCase keys) with the Options pattern,
/// or build it from a model's <c>scheduler_config.json</c> with <see cref="FromSchedulerConfig"/>.
/// <see cref="Scheduling.ISamplerFactory.Create(SamplingOptions)"/> turns it into a sampler with its wrappers.
/// </summary>
public sealed class SamplingOptions
{
    /// <summary>The configuration section the options bind from by default.</summary>
    public const string SectionName = "Sampling";

    /// <summary>The sampler name (<c>ddpm</c>, <c>ddim</c>, <c>dpm-solver</c>, <c>euler</c>, <c>euler-ancestral</c>, <c>pndm</c> or a plugin's).</summary>
    public string SchedulerType { get; set; } = SamplerNames.Ddim;

    /// <summary>Training timesteps T of the model.</summary>
    public int NumTrainTimesteps { get; set; } = 1000;

    /// <summary>First β of the schedule.</summary>
    public double BetaStart { get; set; } = 0.0001;

    /// <summary>Last β of the schedule.</summary>
    public double BetaEnd { get; set; } = 0.02;

    /// <summary>Shape of the β schedule.</summary>
    public BetaSchedule BetaSchedule { get; set; } = BetaSchedule.Linear;

    /// <summary>What the model predicts.</summary>
    public PredictionType PredictionType { get; set; } = PredictionType.Epsilon;

    /// <summary>Sampling steps.</summary>
    public int NumInferenceSteps { get; set; } = 50;

    /// <summary>Classifier-free guidance weight w (1 = none).</summary>
    public double GuidanceScale { get; set; } = 1.0;

    /// <summary>Guidance rescale φ in [0, 1] (0 = none).</summary>
    public double GuidanceRescale { get; set; }

    /// <summary>Model-output temperature (> 0; 1 = unchanged).</summary>
    public double Temperature { get; set; } = 1.0;

    /// <summary>Strength of noise added to the model output each step (≥ 0; 0 = none).</summary>
    public double NoiseInjection { get; set; }

    /// <summary>Space the steps by Karras et al.'s σ schedule (the Karras wrapper).</summary>
    public bool UseKarrasSigmas { get; set; }

    /// <summary>The sampler's own <c>clip_sample</c> key (reference behaviour; samplers without the key ignore it). Null: the sampler's default.</summary>
    public bool? ClipSample { get; set; }

    /// <summary>Dynamic thresholding of the predicted x₀ around any sampler (the thresholding wrapper).</summary>
    public bool Thresholding { get; set; }

    /// <summary>Quantile p of dynamic thresholding, in (0, 1].</summary>
    public double DynamicThresholdingRatio { get; set; } = 0.995;

    /// <summary>Largest threshold of dynamic thresholding.</summary>
    public double SampleMaxValue { get; set; } = 1.0;

    /// <summary>DDIM's η (0 = deterministic).</summary>
    public double Eta { get; set; }

    /// <summary>DPM-Solver algorithm type (null: the sampler's default).</summary>
    public string? AlgorithmType { get; set; }

    /// <summary>DPM-Solver second-order rule (null: the sampler's default).</summary>
    public string? SolverType { get; set; }

    /// <summary>Further <c>scheduler_config.json</c> settings (timestep spacing, offsets…) layered under the fields above; null for none.</summary>
    public SchedulerConfig? BaseConfig { get; set; }

    /// <summary>Options from a model's scheduler configuration: its class picks the sampler unless <paramref name="schedulerType"/> is given.</summary>
    public static SamplingOptions FromSchedulerConfig(SchedulerConfig config, string? schedulerType = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var type = schedulerType ?? (config.ClassName is { } c ? SamplerNames.FromClassName(c) : null)
            ?? throw new SchedulerConfigException("_class_name", config.ClassName is null ? null : ConfigNames.Quote(config.ClassName),
                "a known reference class, or name the sampler explicitly");
        return new SamplingOptions
        {
            SchedulerType = type,
            NumTrainTimesteps = config.NumTrainTimesteps,
            BetaStart = config.BetaStart,
            BetaEnd = config.BetaEnd,
            BetaSchedule = config.BetaSchedule,
            PredictionType = config.PredictionType,
            UseKarrasSigmas = config.UseKarrasSigmas ?? false,
            ClipSample = config.ClipSample,
            Eta = config.Eta ?? 0,
            AlgorithmType = config.AlgorithmType,
            SolverType = config.SolverType,
            BaseConfig = config.Clone(),
        };
    }

    /// <summary>
    /// The sampler's <see cref="SchedulerConfig"/>: <see cref="BaseConfig"/> with this object's fields on top. Karras
    /// spacing and thresholding are left to the wrappers, so they are switched off in the sampler itself.
    /// </summary>
    public SchedulerConfig ToSchedulerConfig()
    {
        Validate();
        var config = BaseConfig?.Clone() ?? new SchedulerConfig();
        config.NumTrainTimesteps = NumTrainTimesteps;
        config.BetaStart = BetaStart;
        config.BetaEnd = BetaEnd;
        config.BetaSchedule = BetaSchedule;
        config.PredictionType = PredictionType;
        config.ClipSample = ClipSample ?? config.ClipSample;
        config.Eta = Eta;
        config.AlgorithmType = AlgorithmType ?? config.AlgorithmType;
        config.SolverType = SolverType ?? config.SolverType;
        config.UseKarrasSigmas = null;
        config.Thresholding = false;
        config.Validate();
        return config;
    }

    /// <summary>A shallow copy (<see cref="BaseConfig"/> is shared; it is cloned wherever it is used).</summary>
    public SamplingOptions Clone() => (SamplingOptions)MemberwiseClone();

    /// <summary>Throws <see cref="SchedulerConfigException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(SchedulerType)) Fail(nameof(SchedulerType), SchedulerType, "a sampler name such as \"ddim\"");
        if (NumTrainTimesteps < 1) Fail(nameof(NumTrainTimesteps), NumTrainTimesteps, "an integer >= 1");
        if (NumInferenceSteps < 1 || NumInferenceSteps > NumTrainTimesteps)
            Fail(nameof(NumInferenceSteps), NumInferenceSteps, $"an integer from 1 to NumTrainTimesteps = {NumTrainTimesteps}");
        if (!double.IsFinite(GuidanceScale) || GuidanceScale < 0) Fail(nameof(GuidanceScale), GuidanceScale, "a finite number >= 0 (1 = no guidance)");
        if (!(GuidanceRescale >= 0 && GuidanceRescale <= 1)) Fail(nameof(GuidanceRescale), GuidanceRescale, "a number in [0, 1]");
        if (!(Temperature > 0) || !double.IsFinite(Temperature)) Fail(nameof(Temperature), Temperature, "a finite number > 0 (1 = unchanged)");
        if (!(NoiseInjection >= 0) || !double.IsFinite(NoiseInjection)) Fail(nameof(NoiseInjection), NoiseInjection, "a finite number >= 0");
        if (!(DynamicThresholdingRatio > 0 && DynamicThresholdingRatio <= 1)) Fail(nameof(DynamicThresholdingRatio), DynamicThresholdingRatio, "a number in (0, 1]");
        if (!(SampleMaxValue > 0) || !double.IsFinite(SampleMaxValue)) Fail(nameof(SampleMaxValue), SampleMaxValue, "a finite number > 0");
        if (!(Eta >= 0) || !double.IsFinite(Eta)) Fail(nameof(Eta), Eta, "a finite number >= 0");
        if (!double.IsFinite(BetaStart) || !double.IsFinite(BetaEnd) || (BetaSchedule != BetaSchedule.SquaredCosCapV2 && !(BetaEnd > BetaStart)))
            Fail(nameof(BetaEnd), BetaEnd, $"a finite number above BetaStart = {BetaStart.ToString(CultureInfo.InvariantCulture)}");
    }

    private static void Fail(string field, object? value, string allowed) =>
        throw new SchedulerConfigException(field, Convert.ToString(value, CultureInfo.InvariantCulture), allowed);
}
