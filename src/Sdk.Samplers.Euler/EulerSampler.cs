using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Euler;

/// <summary>
/// Euler's method on the probability-flow ODE in σ (Karras et al. 2022, https://arxiv.org/abs/2206.00364, Algorithm 1
/// without the second-order correction): x_{i+1} = x_i + (σ_{i+1} − σ_i)·(x_i − D(x_i; σ_i))/σ_i. Deterministic.
/// </summary>
/// <remarks>
/// Reference: <c>EulerDiscreteScheduler</c>. Defaults: <c>timestep_spacing</c> linspace (not rounded, so timesteps
/// may be fractional), <c>interpolation_type</c> linear, <c>use_karras_sigmas</c>, <c>use_exponential_sigmas</c> and
/// <c>use_beta_sigmas</c> false (each spaces σ between the ends of the spaced timesteps' σ, or <c>sigma_min</c>/<c>sigma_max</c>),
/// <c>final_sigmas_type</c> zero, <c>timestep_type</c> discrete. The reference's stochastic "churn" (s_churn &gt; 0) is a per-call argument there
/// and has no configuration key; this sampler runs with its default, s_churn = 0, and never draws noise.
/// An explicit timestep list takes σ_t at each timestep; it cannot be combined with Karras, exponential, beta or
/// log-linear σ, which choose their own noise levels.
/// </remarks>
public sealed class EulerSampler : SigmaSamplerBase, ICfgPlusPlusSampler
{
    private readonly bool _logLinear;
    private readonly bool _finalSigmaMin;
    private readonly bool _continuousTimesteps;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> for an invalid configuration.</summary>
    public EulerSampler(SchedulerConfig config) : base(SamplerNames.Euler, config)
    {
        _logLinear = ConfigNames.RequireOneOf("interpolation_type", Config.InterpolationType ?? "linear", "linear", "log_linear") == "log_linear";
        _finalSigmaMin = ConfigNames.RequireOneOf("final_sigmas_type", Config.FinalSigmasType ?? "zero", "zero", "sigma_min") == "sigma_min";
        var continuous = ConfigNames.RequireOneOf("timestep_type", Config.TimestepType ?? "discrete", "discrete", "continuous") == "continuous";
        // The reference feeds c_noise = ¼·ln σ (Karras et al. 2022, table 1) only to v-prediction models; other
        // prediction types keep discrete timesteps even when "continuous" is asked for.
        _continuousTimesteps = continuous && Config.PredictionType == PredictionType.VPrediction;
    }

    /// <summary>False with Karras, exponential or beta σ, or continuous timesteps: those choose their own noise levels.</summary>
    public override bool AcceptsExplicitTimesteps => base.AcceptsExplicitTimesteps && !_continuousTimesteps;

    /// <inheritdoc/>
    /// <remarks>Continuous timesteps: the network's noise input ¼·ln σ of each listed σ, as for a count.</remarks>
    protected override double[] TimestepsOfExplicitSigmas(double[] sigmas)
    {
        if (!_continuousTimesteps) return base.TimestepsOfExplicitSigmas(sigmas);
        var timesteps = new double[sigmas.Length];
        for (var i = 0; i < timesteps.Length; i++) timesteps[i] = 0.25 * Math.Log((float)sigmas[i]);
        return ToFloat32(timesteps);
    }

    /// <summary>
    /// With <c>log_linear</c>, as the reference: the timesteps are used as given (float32) and the σ are the n+1 log-linear
    /// levels of a count-based run, which ignore them; otherwise σ_t at each timestep.
    /// </summary>
    protected override double[] ExplicitTimestepSigmas(double[] timesteps) =>
        _logLinear ? LogLinearSigmas(timesteps.Length + 1) : base.ExplicitTimestepSigmas(timesteps);

    /// <summary>σ_min of the training schedule with <c>final_sigmas_type</c> sigma_min, else 0.</summary>
    protected override double FinalSigma => _finalSigmaMin ? TrainingSigmas[0] : 0;

    /// <summary>
    /// The base's schedule (spaced timesteps, their σ, then Karras / exponential / beta spacing between that table's
    /// ends, each timestep then the fractional training timestep of its σ), then — continuous timesteps — the
    /// network's noise input ¼·ln σ in place of each timestep.
    /// </summary>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        var timesteps = base.CreateTimesteps(numInferenceSteps);
        if (_continuousTimesteps)
        {
            timesteps = new double[Sigmas.Count - 1];
            for (var i = 0; i < timesteps.Length; i++) timesteps[i] = 0.25 * Math.Log(Sigmas[i]);
            ToFloat32(timesteps);
        }
        return timesteps;
    }

    /// <summary>
    /// σ_t interpolated linearly, or — log_linear — n+1 levels evenly spaced in log σ from σ_max to σ_min.
    /// Reproduced on purpose as the reference has it: those levels ignore the timesteps, and with n+1 of them for n
    /// steps the run ends at σ_min, never reaching the final σ (Sigmas has n+2 entries).
    /// </summary>
    protected override double[] ScheduleSigmas(double[] timesteps, int numInferenceSteps) =>
        _logLinear ? LogLinearSigmas(numInferenceSteps + 1) : InterpolateSigmas(timesteps);

    /// <inheritdoc/>
    protected override void Advance(in SigmaStep step, INoiseSource noise)
    {
        // CFG++ (ComfyUI's sample_euler_cfg_pp): x' = x̂₀ + σ_next·(x − x̂₀ᵘ)/σ, the guided x̂₀ re-noised along the unconditional ε.
        if (step.IsCfgPlusPlus) CfgPlusPlusStep(step.Sample, step.Denoised, step.UnconditionalDenoised, step.Sigma, step.SigmaTo, step.Destination);
        else if (step.Denoised.IsEmpty) EulerStepFromEpsilon(step.Sample, step.ModelOutput, step.Sigma, step.SigmaTo, step.Destination);
        else EulerStep(step.Sample, step.Denoised, step.Sigma, step.SigmaTo, step.Destination);
    }

    /// <summary>Null: every configuration takes CFG++ steps.</summary>
    public string? CfgPlusPlusUnsupportedReason => null;

    /// <summary>An ε model's x̂₀ is formed inside the Euler pass.</summary>
    protected override bool AdvancesFromEpsilon => true;

    // exp of count points evenly spaced from ln σ_max down to ln σ_min of the training table, in the reference's
    // float32 arithmetic (numpy's log, torch's linspace).
    private double[] LogLinearSigmas(int count)
    {
        var logs = Float32Schedule.TorchLinspace(
            ReferenceFloat32.NumpyLog((float)TrainingSigmas[^1]), ReferenceFloat32.NumpyLog((float)TrainingSigmas[0]), count);
        var sigmas = new double[count];
        for (var i = 0; i < count; i++) sigmas[i] = MathF.Exp(logs[i]);
        return sigmas;
    }
}
