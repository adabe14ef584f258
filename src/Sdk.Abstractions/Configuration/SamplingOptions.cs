using System.Globalization;

namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// What a request asks of the sampling setup: the sampler, the step count, the wrappers, and overrides of the
/// model's own <c>scheduler_config.json</c>. Every override is nullable: null leaves the model's value (or, for a
/// bare model, the reference's default) in place, so a request changes only what it sets. Bind it from
/// <c>appsettings.json</c> (section <see cref="SectionName"/>, PascalCase keys) with the Options pattern.
/// </summary>
/// <remarks>
/// The one path from configuration to sampler: <see cref="ApplyTo"/> lays the overrides over the model's
/// configuration, and <see cref="Diffusion.Sdk.Abstractions.ISamplerFactory.Create(SamplingOptions, SchedulerConfig?)"/> builds the
/// sampler and its wrappers from the result. Nothing is copied back and forth.
/// </remarks>
public sealed class SamplingOptions
{
    /// <summary>The configuration section the options bind from by default.</summary>
    public const string SectionName = "Sampling";

    /// <summary>The default number of sampling steps.</summary>
    public const int DefaultSteps = 50;

    /// <summary>
    /// The sampler name (<c>ddim</c>, <c>euler</c>, a plugin's…). Null: the sampler the model's configuration names
    /// in <c>_class_name</c> (resolved through the factory's registry, plugins included), else <c>ddim</c>.
    /// </summary>
    public string? Sampler { get; set; }

    /// <summary>
    /// Any <c>scheduler_config.json</c> key overridden for this request by its snake_case name, as the reference's
    /// <c>from_config(config, **overrides)</c>: e.g. <c>prediction_type</c> = <c>v_prediction</c> or
    /// <c>timestep_spacing</c> = <c>trailing</c>. Each value is read as JSON when it is a JSON value (a number,
    /// <c>true</c>, <c>false</c>, <c>null</c>, an array or an object) and as a string otherwise. They go through the same
    /// reader and checks as the file's own keys, laid over the model's file; the typed options of this class are laid
    /// over them. A key the chosen sampler does not read is logged as a warning naming it.
    /// </summary>
    public IDictionary<string, string> SchedulerOverrides { get; set; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Sampling steps (the reference's <c>num_inference_steps</c>).</summary>
    public int Steps { get; set; } = DefaultSteps;

    /// <summary>Classifier-free guidance weight w; guidance runs only above 1, as in the reference (1 or less: the conditional model alone). Null: 1 for a model without a conditioning input, else the pipeline's default.</summary>
    public double? GuidanceScale { get; set; }

    /// <summary>Guidance rescale φ in [0, 1] (0 = none), Lin et al. 2023.</summary>
    public double GuidanceRescale { get; set; }

    /// <summary>
    /// CFG++ (Chung et al. 2024) instead of plain classifier-free guidance: each step denoises with the guided
    /// prediction and re-noises with the unconditional one. <see cref="GuidanceScale"/> is then CFG++'s λ in [0, 1]
    /// (0: the unconditional model; about 0.6 matches a plain weight of 3–7 at 20 steps) and guidance runs for every λ,
    /// both passes always. Only samplers that implement <see cref="ICfgPlusPlusSampler"/> take it (built in: <c>euler</c>,
    /// <c>euler-ancestral</c>, <c>dpm-solver</c> with <c>dpmsolver++</c> of order 1 or 2); others are refused before any work.
    /// </summary>
    public bool CfgPlusPlus { get; set; }

    /// <summary>Model-output temperature (> 0; 1 = unchanged).</summary>
    public double Temperature { get; set; } = 1.0;

    /// <summary>Strength of noise added to the model output each step (≥ 0; 0 = none).</summary>
    public double NoiseInjection { get; set; }

    /// <summary>Overrides <c>use_karras_sigmas</c>: Karras et al. 2022 σ spacing, natively or through the Karras wrapper.</summary>
    public bool? UseKarrasSigmas { get; set; }

    /// <summary>
    /// A published step schedule in place of the sampler's own spacing (<see cref="StepSpacing"/>); null: the
    /// configuration's <c>timestep_spacing</c> and σ options. It cannot be combined with <see cref="UseKarrasSigmas"/>.
    /// </summary>
    public StepSpacing? Spacing { get; set; }

    /// <summary>
    /// Whose Align Your Steps schedule <see cref="Spacing"/> uses. Null: the model family's, which the Stable Diffusion
    /// pipeline fills in (SD 1.x/2.x or SDXL); a bare sampler factory call without it is refused, since nothing in a
    /// scheduler configuration tells the families apart.
    /// </summary>
    public AlignYourStepsModel? AlignYourStepsModel { get; set; }

    /// <summary>Overrides <c>thresholding</c>: dynamic thresholding of the predicted x₀, natively or through the thresholding wrapper.</summary>
    public bool? Thresholding { get; set; }

    /// <summary>Overrides <c>dynamic_thresholding_ratio</c>, the quantile p of dynamic thresholding, in (0, 1].</summary>
    public double? DynamicThresholdingRatio { get; set; }

    /// <summary>Overrides <c>sample_max_value</c>, the largest threshold of dynamic thresholding.</summary>
    public double? SampleMaxValue { get; set; }

    /// <summary>Overrides <c>eta</c>: DDIM's η (0 = deterministic), TCD's γ.</summary>
    public double? Eta { get; set; }

    /// <summary>An adaptive sampler's relative tolerance of a step's error (<c>rtol</c>; dpm-adaptive's default 0.05).</summary>
    public double? Rtol { get; set; }

    /// <summary>An adaptive sampler's absolute tolerance of a step's error (<c>atol</c>; dpm-adaptive's default 0.0078).</summary>
    public double? Atol { get; set; }

    /// <summary>
    /// Overrides <c>original_inference_steps</c>: the length of the distillation schedule that the consistency samplers
    /// (LCM, TCD) choose their timesteps from, as the reference's LCM pipelines take it per call.
    /// </summary>
    public int? OriginalInferenceSteps { get; set; }

    /// <summary>Overrides <c>clip_sample</c>.</summary>
    public bool? ClipSample { get; set; }

    /// <summary>Overrides <c>solver_order</c>.</summary>
    public int? SolverOrder { get; set; }

    /// <summary>Overrides <c>algorithm_type</c> (e.g. <c>dpmsolver++</c>).</summary>
    public string? AlgorithmType { get; set; }

    /// <summary>Overrides <c>solver_type</c> (e.g. <c>midpoint</c>, <c>bh2</c>).</summary>
    public string? SolverType { get; set; }

    /// <summary>Overrides <c>timestep_spacing</c>.</summary>
    public TimestepSpacing? TimestepSpacing { get; set; }

    /// <summary>Overrides <c>num_train_timesteps</c> (for a bare model without a configuration file).</summary>
    public int? NumTrainTimesteps { get; set; }

    /// <summary>Overrides <c>beta_start</c>.</summary>
    public double? BetaStart { get; set; }

    /// <summary>Overrides <c>beta_end</c>.</summary>
    public double? BetaEnd { get; set; }

    /// <summary>Overrides <c>beta_schedule</c>.</summary>
    public BetaSchedule? BetaSchedule { get; set; }

    /// <summary>Overrides <c>prediction_type</c>.</summary>
    public PredictionType? PredictionType { get; set; }

    /// <summary>
    /// The <c>scheduler_config.json</c> keys this request sets, each with the option that sets it (for messages
    /// about options the chosen sampler ignores).
    /// </summary>
    public IReadOnlyList<(string Key, string Option)> OverriddenKeys()
    {
        var keys = new List<(string, string)>();
        void Add(bool set, string key, string option) { if (set) keys.Add((key, option)); }
        Add(UseKarrasSigmas is not null, "use_karras_sigmas", nameof(UseKarrasSigmas));
        Add(Thresholding is not null, "thresholding", nameof(Thresholding));
        Add(DynamicThresholdingRatio is not null, "dynamic_thresholding_ratio", nameof(DynamicThresholdingRatio));
        Add(SampleMaxValue is not null, "sample_max_value", nameof(SampleMaxValue));
        Add(Eta is not null, "eta", nameof(Eta));
        Add(ClipSample is not null, "clip_sample", nameof(ClipSample));
        Add(OriginalInferenceSteps is not null, "original_inference_steps", nameof(OriginalInferenceSteps));
        Add(Rtol is not null, "rtol", nameof(Rtol));
        Add(Atol is not null, "atol", nameof(Atol));
        Add(SolverOrder is not null, "solver_order", nameof(SolverOrder));
        Add(AlgorithmType is not null, "algorithm_type", nameof(AlgorithmType));
        Add(SolverType is not null, "solver_type", nameof(SolverType));
        Add(TimestepSpacing is not null, "timestep_spacing", nameof(TimestepSpacing));
        foreach (var key in SchedulerOverrides.Keys)
            if (!keys.Exists(k => k.Item1 == key)) keys.Add((key, $"{nameof(SchedulerOverrides)}[{key}]"));
        return keys;
    }

    /// <summary>A copy, for callers that lay their own values over a request's options without changing it.</summary>
    public SamplingOptions Clone()
    {
        var copy = (SamplingOptions)MemberwiseClone();
        copy.SchedulerOverrides = new Dictionary<string, string>(SchedulerOverrides, StringComparer.Ordinal);
        return copy;
    }

    /// <summary>
    /// The sampler's configuration: a copy of <paramref name="modelConfig"/> (the model's <c>scheduler_config.json</c>;
    /// null: the reference's defaults) with every override this request sets laid on top.
    /// </summary>
    /// <exception cref="SamplingOptionException">An option is out of its range.</exception>
    /// <exception cref="SchedulerConfigException">The result is not a valid configuration (e.g. an override contradicts the model's file).</exception>
    public SchedulerConfig ApplyTo(SchedulerConfig? modelConfig)
    {
        Validate();
        var config = modelConfig?.Clone() ?? new SchedulerConfig();
        if (SchedulerOverrides.Count > 0) config = SchedulerConfigJson.WithOverrides(config, SchedulerOverrides, OverridesSource);
        if (NumTrainTimesteps is { } trainSteps) config.NumTrainTimesteps = trainSteps;
        if (BetaStart is { } betaStart) config.BetaStart = betaStart;
        if (BetaEnd is { } betaEnd) config.BetaEnd = betaEnd;
        if (BetaSchedule is { } schedule) config.BetaSchedule = schedule;
        if (PredictionType is { } prediction) config.PredictionType = prediction;
        if (TimestepSpacing is { } spacing) config.TimestepSpacing = spacing;
        if (UseKarrasSigmas is { } karras) config.UseKarrasSigmas = karras;
        if (Thresholding is { } thresholding) config.Thresholding = thresholding;
        if (DynamicThresholdingRatio is { } ratio) config.DynamicThresholdingRatio = ratio;
        if (SampleMaxValue is { } maxValue) config.SampleMaxValue = maxValue;
        if (Eta is { } eta) config.Eta = eta;
        if (ClipSample is { } clip) config.ClipSample = clip;
        if (OriginalInferenceSteps is { } original) config.OriginalInferenceSteps = original;
        if (Rtol is { } rtol) config.AdditionalKeys["rtol"] = System.Text.Json.JsonSerializer.SerializeToElement(rtol);
        if (Atol is { } atol) config.AdditionalKeys["atol"] = System.Text.Json.JsonSerializer.SerializeToElement(atol);
        if (SolverOrder is { } order) config.SolverOrder = order;
        if (AlgorithmType is { } algorithm) config.AlgorithmType = algorithm;
        if (SolverType is { } solver) config.SolverType = solver;
        config.Validate();
        return config;
    }

    // Where an override's error says the value came from.
    private const string OverridesSource = nameof(SamplingOptions) + "." + nameof(SchedulerOverrides);

    /// <summary>A copy of these options that names <paramref name="sampler"/> (an ensemble's member).</summary>
    internal SamplingOptions WithSampler(string sampler)
    {
        var copy = Clone();
        copy.Sampler = sampler;
        return copy;
    }

    /// <summary>Throws <see cref="SamplingOptionException"/> naming the first option outside its range.</summary>
    public void Validate()
    {
        if (SchedulerOverrides is null) Fail(nameof(SchedulerOverrides), null, "a dictionary of scheduler_config.json keys and values (empty for none)");
        foreach (var key in SchedulerOverrides!.Keys)
            if (string.IsNullOrWhiteSpace(key)) Fail(nameof(SchedulerOverrides), key, "scheduler_config.json key names such as \"prediction_type\"");
        if (Sampler is not null && string.IsNullOrWhiteSpace(Sampler)) Fail(nameof(Sampler), Sampler, "a sampler name such as \"ddim\", or null for the model's own");
        var trainSteps = NumTrainTimesteps ?? int.MaxValue;
        if (NumTrainTimesteps is < 1 or > 100_000) Fail(nameof(NumTrainTimesteps), NumTrainTimesteps, "an integer from 1 to 100000");
        if (Steps < 1 || Steps > trainSteps) Fail(nameof(Steps), Steps, NumTrainTimesteps is null ? "an integer >= 1" : $"an integer from 1 to NumTrainTimesteps = {trainSteps}");
        // The scale multiplies a difference of two predictions: past 1000 any model's output is swamped by rounding.
        if (GuidanceScale is { } w && !(w >= 0 && w <= 1000)) Fail(nameof(GuidanceScale), w, "a number from 0 to 1000 (guidance runs above 1; 3 to 15 is usual)");
        // CFG++'s λ interpolates between the unconditional and the conditional x̂₀; a plain weight such as 7.5 there
        // extrapolates far past the conditional prediction.
        if (CfgPlusPlus && GuidanceScale is { } lambda && !(lambda <= 1))
            Fail(nameof(GuidanceScale), lambda, "CFG++'s λ, a number in [0, 1] (about 0.6 is usual; plain guidance weights such as 7.5 do not carry over)");
        if (!(GuidanceRescale >= 0 && GuidanceRescale <= 1)) Fail(nameof(GuidanceRescale), GuidanceRescale, "a number in [0, 1]");
        if (!(Temperature > 0 && Temperature <= 100)) Fail(nameof(Temperature), Temperature, "a number in (0, 100] (1 = unchanged)");
        // Noise injection adds s·z to a unit-scale model output: above 10 the output is noise.
        if (!(NoiseInjection >= 0 && NoiseInjection <= 10)) Fail(nameof(NoiseInjection), NoiseInjection, "a number from 0 to 10 (0 = none)");
        if (DynamicThresholdingRatio is { } p && !(p > 0 && p <= 1)) Fail(nameof(DynamicThresholdingRatio), p, "a number in (0, 1]");
        if (SampleMaxValue is { } s && !(s > 0 && double.IsFinite(s))) Fail(nameof(SampleMaxValue), s, "a finite number > 0");
        if (OriginalInferenceSteps is < 1 or > 100_000) Fail(nameof(OriginalInferenceSteps), OriginalInferenceSteps, "an integer from 1 to num_train_timesteps (50 for the usual LCM distillation)");
        // η interpolates between DDIM (0) and DDPM's variance (1); past 1 the variance exceeds the posterior's.
        if (Eta is { } eta && !(eta >= 0 && eta <= 1)) Fail(nameof(Eta), eta, "a number in [0, 1] (0 = deterministic, 1 = DDPM's variance)");
        if (Rtol is { } r && !(r > 0 && r < 1)) Fail(nameof(Rtol), r, "a number in (0, 1), e.g. 0.05 (smaller: more accurate, more steps)");
        if (Atol is { } a && !(a > 0 && a < 1)) Fail(nameof(Atol), a, "a number in (0, 1), e.g. 0.0078 (one 8-bit level of [−1, 1])");
        if (Spacing is { } spacing && !Enum.IsDefined(spacing)) Fail(nameof(Spacing), spacing, "AlignYourSteps, AlignYourStepsSigmas or AlignYourStepsTimesteps, or null for the sampler's own spacing");
        if (AlignYourStepsModel is { } family && !Enum.IsDefined(family)) Fail(nameof(AlignYourStepsModel), family, "StableDiffusion, StableDiffusionXL or StableVideoDiffusion");
        if (Spacing is not null && UseKarrasSigmas == true)
            Fail(nameof(UseKarrasSigmas), true, $"false or null with {nameof(Spacing)} = {Spacing}: both choose the noise levels");
        if (Spacing == StepSpacing.AlignYourStepsTimesteps && AlignYourStepsModel == global::Diffusion.Sdk.Abstractions.AlignYourStepsModel.StableVideoDiffusion)
            Fail(nameof(Spacing), Spacing, "AlignYourSteps or AlignYourStepsSigmas for StableVideoDiffusion (its schedule is published as σ only)");
        if (SolverOrder is { } order && order is < 1 or > 3) Fail(nameof(SolverOrder), order, "1, 2 or 3");
        if (BetaStart is { } b0 && !(b0 >= 0 && b0 < 1)) Fail(nameof(BetaStart), b0, "a number in [0, 1)");
        if (BetaEnd is { } b1 && !(b1 > 0 && b1 < 1)) Fail(nameof(BetaEnd), b1, "a number in (0, 1)");
        if (BetaStart is { } start && BetaEnd is { } end && BetaSchedule != global::Diffusion.Sdk.Abstractions.BetaSchedule.SquaredCosCapV2 && !(end > start))
            Fail(nameof(BetaEnd), end, $"a number above BetaStart = {start.ToString("R", CultureInfo.InvariantCulture)}");
    }

    private static void Fail(string option, object? value, string allowed) =>
        throw new SamplingOptionException(option, Convert.ToString(value, CultureInfo.InvariantCulture), allowed);
}
