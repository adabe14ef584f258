namespace Diffusion.Sdk.Abstractions;

// The keys of the flow-matching, EDM, SA-Solver and DPM-Solver SDE samplers, and the churn settings that the
// reference passes to each step call (here sampler settings, as DDIM's eta). Null means "not given": each sampler
// applies the reference's default.
public sealed partial class SchedulerConfig
{
    /// <summary>
    /// The σ-table samplers that offer it (DPM-Solver multistep and single-step, DEIS, UniPC, SA-Solver): run on flow σ ∈ (0, 1), x = (1 − σ)·x₀ + σ·ε,
    /// spaced as the flow-matching schedule with <see cref="FlowShift"/> (or μ with <see cref="UseDynamicShifting"/>)
    /// (<c>use_flow_sigmas</c>; default false).
    /// </summary>
    public bool? UseFlowSigmas { get; set; }

    /// <summary>With <see cref="UseFlowSigmas"/>: the constant shift s of σ ↦ s·σ/(1 + (s − 1)·σ) (<c>flow_shift</c>; default 1).</summary>
    public double? FlowShift { get; set; }

    /// <summary>Flow matching: the constant shift s of σ ↦ s·σ/(1 + (s − 1)·σ) (<c>shift</c>; default 1, no shift).</summary>
    public double? Shift { get; set; }

    /// <summary>Flow matching: shift by the resolution-dependent μ given when timesteps are set instead of by <see cref="Shift"/> (<c>use_dynamic_shifting</c>).</summary>
    public bool? UseDynamicShifting { get; set; }

    /// <summary>Flow matching, dynamic shifting: <c>exponential</c> (e^μ/(e^μ + 1/σ − 1), the default) or <c>linear</c> (μ/(μ + 1/σ − 1)) (<c>time_shift_type</c>).</summary>
    public string? TimeShiftType { get; set; }

    /// <summary>Flow matching: stretch the shifted σ so that the last one equals this value (<c>shift_terminal</c>).</summary>
    public double? ShiftTerminal { get; set; }

    /// <summary>Flow matching: run on 1 − σ, ending at 1 (<c>invert_sigmas</c>; Mochi).</summary>
    public bool? InvertSigmas { get; set; }

    /// <summary>Flow-matching Euler: re-noise the x₀ prediction to the next σ with fresh noise instead of the ODE step (<c>stochastic_sampling</c>).</summary>
    public bool? StochasticSampling { get; set; }

    /// <summary>Flow matching: μ at <see cref="BaseImageSeqLen"/> image tokens, for pipelines that compute μ from the image size (<c>base_shift</c>; default 0.5).</summary>
    public double? BaseShift { get; set; }

    /// <summary>Flow matching: μ at <see cref="MaxImageSeqLen"/> image tokens (<c>max_shift</c>; default 1.15).</summary>
    public double? MaxShift { get; set; }

    /// <summary>Flow matching: the image token count at which μ is <see cref="BaseShift"/> (<c>base_image_seq_len</c>; default 256).</summary>
    public int? BaseImageSeqLen { get; set; }

    /// <summary>Flow matching: the image token count at which μ is <see cref="MaxShift"/> (<c>max_image_seq_len</c>; default 4096).</summary>
    public int? MaxImageSeqLen { get; set; }

    /// <summary>EDM: the standard deviation of the data, σ_data of the preconditioning (<c>sigma_data</c>; default 0.5).</summary>
    public double? SigmaData { get; set; }

    /// <summary>EDM: <c>karras</c> (the default) or <c>exponential</c> spacing of σ between sigma_min and sigma_max (<c>sigma_schedule</c>).</summary>
    public string? SigmaSchedule { get; set; }

    /// <summary>EDM: ρ of the Karras spacing (<c>rho</c>; default 7).</summary>
    public double? Rho { get; set; }

    /// <summary>SA-Solver: the order of the stochastic Adams–Bashforth predictor, 1 to 4 (<c>predictor_order</c>; default 2).</summary>
    public int? PredictorOrder { get; set; }

    /// <summary>SA-Solver: the order of the stochastic Adams–Moulton corrector, 1 to 4 (<c>corrector_order</c>; default 2).</summary>
    public int? CorrectorOrder { get; set; }

    /// <summary>DPM-Solver SDE: the seed of its Brownian-tree noise (<c>noise_sampler_seed</c>); null: the noise source's own draws seed it.</summary>
    public long? NoiseSamplerSeed { get; set; }

    /// <summary>
    /// Churn γ of Karras et al. 2022, Algorithm 2 (<c>s_churn</c>; a step argument of the reference, default 0):
    /// EDM Euler and flow-matching Heun raise σ by up to √2 − 1 before the step, with fresh noise.
    /// </summary>
    public double? SChurn { get; set; }

    /// <summary>The smallest σ the churn applies at (<c>s_tmin</c>; default 0).</summary>
    public double? STmin { get; set; }

    /// <summary>The largest σ the churn applies at (<c>s_tmax</c>; default ∞).</summary>
    public double? STmax { get; set; }

    /// <summary>The scale of the churn's noise, and of DPM-Solver SDE's (<c>s_noise</c>; default 1).</summary>
    public double? SNoise { get; set; }
}
