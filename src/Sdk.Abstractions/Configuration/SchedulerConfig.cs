using System.Text.Json;

namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// The settings of one sampler, with the keys and meaning of the reference ecosystem's <c>scheduler_config.json</c>.
/// Keys whose default differs between samplers (for example <c>timestep_spacing</c> or <c>clip_sample</c>) are
/// nullable: null means "not given", and each sampler applies its own default, as the reference does.
/// </summary>
/// <remarks>Read and write files with <see cref="SchedulerConfigJson"/>; check values with <see cref="Validate"/>.</remarks>
public sealed partial class SchedulerConfig
{
    /// <summary>The reference class name (<c>_class_name</c>), e.g. <c>DDIMScheduler</c>; see <see cref="SamplerNames"/>.</summary>
    public string? ClassName { get; set; }

    /// <summary>Number of diffusion steps the model was trained with, T (<c>num_train_timesteps</c>).</summary>
    public int NumTrainTimesteps { get; set; } = 1000;

    // The β keys remember whether they were given: a key left out takes the defaults of the sampler's reference class
    // (most: linear 0.0001 … 0.02; Heun, the KDPM2 kinds, DPM-Solver SDE, LCM and TCD: 0.00085 … 0.012), see WithBetaDefaults.
    private double? _betaStart;
    private double? _betaEnd;
    private BetaSchedule? _betaSchedule;

    /// <summary>β at the first training timestep (<c>beta_start</c>); 0.0001 unless given, or unless the sampler's reference class defaults otherwise (<see cref="WithBetaDefaults"/>).</summary>
    public double BetaStart { get => _betaStart ?? 0.0001; set => _betaStart = value; }

    /// <summary>β at the last training timestep (<c>beta_end</c>); 0.02 unless given, or unless the sampler's reference class defaults otherwise.</summary>
    public double BetaEnd { get => _betaEnd ?? 0.02; set => _betaEnd = value; }

    /// <summary>The shape of the β schedule (<c>beta_schedule</c>); linear unless given, or unless the sampler's reference class defaults otherwise.</summary>
    public BetaSchedule BetaSchedule { get => _betaSchedule ?? BetaSchedule.Linear; set => _betaSchedule = value; }

    /// <summary>Whether the configuration gives <c>beta_start</c>, <c>beta_end</c> and <c>beta_schedule</c> (each), rather than leaving them to defaults.</summary>
    internal (bool Start, bool End, bool Schedule) BetasGiven => (_betaStart is not null, _betaEnd is not null, _betaSchedule is not null);

    /// <summary>
    /// This configuration as a sampler whose reference class has its own β defaults reads it: a copy in which each of
    /// <c>beta_start</c>, <c>beta_end</c> and <c>beta_schedule</c> that the configuration does not give takes the class's
    /// default, as the reference's <c>from_config</c> fills a key the file leaves out from the class's signature (e.g.
    /// <c>HeunDiscreteScheduler</c>: linear 0.00085 … 0.012; <c>LCMScheduler</c>: scaled_linear 0.00085 … 0.012).
    /// Keys the configuration gives are kept.
    /// </summary>
    public SchedulerConfig WithBetaDefaults(double betaStart, double betaEnd, BetaSchedule betaSchedule)
    {
        var copy = Clone();
        copy._betaStart ??= betaStart;
        copy._betaEnd ??= betaEnd;
        copy._betaSchedule ??= betaSchedule;
        return copy;
    }

    /// <summary>Explicit betas that replace the schedule (<c>trained_betas</c>); one per training timestep.</summary>
    public double[]? TrainedBetas { get; set; }

    /// <summary>What the network predicts (<c>prediction_type</c>).</summary>
    public PredictionType PredictionType { get; set; } = PredictionType.Epsilon;

    /// <summary>How inference timesteps are spread (<c>timestep_spacing</c>); null: the sampler's default.</summary>
    public TimestepSpacing? TimestepSpacing { get; set; }

    /// <summary>Added to every timestep of <c>leading</c> spacing (<c>steps_offset</c>).</summary>
    public int StepsOffset { get; set; }

    /// <summary>Rescale betas so the last timestep has zero SNR (<c>rescale_betas_zero_snr</c>), Lin et al. 2023.</summary>
    public bool RescaleBetasZeroSnr { get; set; }

    /// <summary>DDPM's reverse-step variance (<c>variance_type</c>); null: the sampler's default.</summary>
    public VarianceType? VarianceType { get; set; }

    /// <summary>Clip the predicted x₀ to ±<see cref="ClipSampleRange"/> (<c>clip_sample</c>); null: the sampler's default.</summary>
    public bool? ClipSample { get; set; }

    /// <summary>The bound used by <see cref="ClipSample"/> (<c>clip_sample_range</c>).</summary>
    public double ClipSampleRange { get; set; } = 1.0;

    /// <summary>Dynamic thresholding of the predicted x₀ (<c>thresholding</c>), Saharia et al. 2022.</summary>
    public bool Thresholding { get; set; }

    /// <summary>The quantile of |x₀| used by dynamic thresholding (<c>dynamic_thresholding_ratio</c>), in (0, 1].</summary>
    public double DynamicThresholdingRatio { get; set; } = 0.995;

    /// <summary>The largest threshold dynamic thresholding may use (<c>sample_max_value</c>).</summary>
    public double SampleMaxValue { get; set; } = 1.0;

    /// <summary>Use ᾱ = 1 for the step after the last timestep (<c>set_alpha_to_one</c>); null: the sampler's default.</summary>
    public bool? SetAlphaToOne { get; set; }

    /// <summary>DDIM's η: 0 is deterministic DDIM, 1 matches DDPM's variance (<c>eta</c>; an SDK key, not in the reference's files).</summary>
    public double? Eta { get; set; }

    /// <summary>Multistep solver order (<c>solver_order</c>).</summary>
    public int? SolverOrder { get; set; }

    /// <summary>Multistep solver algorithm (<c>algorithm_type</c>), e.g. <c>dpmsolver++</c>.</summary>
    public string? AlgorithmType { get; set; }

    /// <summary>Second-order update rule (<c>solver_type</c>): <c>midpoint</c> or <c>heun</c>.</summary>
    public string? SolverType { get; set; }

    /// <summary>Use lower-order steps at the end of short schedules (<c>lower_order_final</c>).</summary>
    public bool? LowerOrderFinal { get; set; }

    /// <summary>Take a first-order step at the very end (<c>euler_at_final</c>).</summary>
    public bool? EulerAtFinal { get; set; }

    /// <summary>Space sigmas as Karras et al. 2022 propose (<c>use_karras_sigmas</c>).</summary>
    public bool? UseKarrasSigmas { get; set; }

    /// <summary>Space sigmas geometrically between the ends of the table (<c>use_exponential_sigmas</c>).</summary>
    public bool? UseExponentialSigmas { get; set; }

    /// <summary>Space sigmas by the quantiles of a Beta(0.6, 0.6) distribution (<c>use_beta_sigmas</c>), Lee et al. 2024.</summary>
    public bool? UseBetaSigmas { get; set; }

    /// <summary>DPM-Solver multistep: σ uniform in λ = −log σ between the ends of the training table, Lu et al. 2022 (<c>use_lu_lambdas</c>).</summary>
    public bool? UseLuLambdas { get; set; }

    /// <summary>UniPC: predict x₀ (data prediction) rather than ε (<c>predict_x0</c>).</summary>
    public bool? PredictX0 { get; set; }

    /// <summary>UniPC: the steps (0-based) at which the corrector is skipped (<c>disable_corrector</c>).</summary>
    public int[]? DisableCorrector { get; set; }

    /// <summary>LCM and TCD: the number of steps of the distillation schedule the timesteps are taken from (<c>original_inference_steps</c>).</summary>
    public int? OriginalInferenceSteps { get; set; }

    /// <summary>LCM: the factor applied to the timestep in the boundary-condition scalings c_skip and c_out (<c>timestep_scaling</c>).</summary>
    public double? TimestepScaling { get; set; }

    /// <summary>The sigma after the last step (<c>final_sigmas_type</c>): <c>zero</c> or <c>sigma_min</c>.</summary>
    public string? FinalSigmasType { get; set; }

    /// <summary>Clip the smallest λ(t) for numerical stability (<c>lambda_min_clipped</c>).</summary>
    public double? LambdaMinClipped { get; set; }

    /// <summary>How sigmas are interpolated between training timesteps (<c>interpolation_type</c>).</summary>
    public string? InterpolationType { get; set; }

    /// <summary>Whether the network is fed discrete timesteps or continuous sigma values (<c>timestep_type</c>).</summary>
    public string? TimestepType { get; set; }

    /// <summary>Skip PNDM's Runge–Kutta warm-up (<c>skip_prk_steps</c>).</summary>
    public bool? SkipPrkSteps { get; set; }

    /// <summary>Smallest sigma for Karras spacing (<c>sigma_min</c>); null: the schedule's.</summary>
    public double? SigmaMin { get; set; }

    /// <summary>Largest sigma for Karras spacing (<c>sigma_max</c>); null: the schedule's.</summary>
    public double? SigmaMax { get; set; }

    /// <summary>
    /// Keys this SDK does not interpret, kept as read so that writing the configuration back loses nothing
    /// (metadata such as <c>_diffusers_version</c>, and keys of newer exporters).
    /// </summary>
    public IDictionary<string, JsonElement> AdditionalKeys { get; private set; } = new SortedDictionary<string, JsonElement>(StringComparer.Ordinal);

    /// <summary>A copy that shares nothing mutable with this instance.</summary>
    public SchedulerConfig Clone()
    {
        var copy = (SchedulerConfig)MemberwiseClone();
        copy.TrainedBetas = TrainedBetas?.ToArray();
        copy.DisableCorrector = DisableCorrector?.ToArray();
        var extra = new SortedDictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var (key, value) in AdditionalKeys) extra[key] = value.Clone();
        copy.AdditionalKeys = extra;
        return copy;
    }

    /// <summary>
    /// Checks every value and throws <see cref="SchedulerConfigException"/> naming the first invalid key,
    /// its value and what is allowed.
    /// </summary>
    /// <param name="source">The file the configuration came from, quoted in the error.</param>
    public void Validate(string? source = null) => SchedulerConfigValidation.Validate(this, source);
}
