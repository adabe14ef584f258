using Diffusion.Configuration;
using Diffusion.Noise;
using Diffusion.Scheduling;
using Diffusion.Schedules;

namespace Diffusion.Samplers.Euler;

/// <summary>
/// Euler's method on the probability-flow ODE in σ (Karras et al. 2022, https://arxiv.org/abs/2206.00364, Algorithm 1
/// without the second-order correction): x_{i+1} = x_i + (σ_{i+1} − σ_i)·(x_i − D(x_i; σ_i))/σ_i. Deterministic.
/// </summary>
/// <remarks>
/// Reference: <c>EulerDiscreteScheduler</c>. Defaults: <c>timestep_spacing</c> linspace (not rounded, so timesteps
/// may be fractional), <c>interpolation_type</c> linear, <c>use_karras_sigmas</c> false, <c>final_sigmas_type</c>
/// zero, <c>timestep_type</c> discrete. The reference's stochastic "churn" (s_churn &gt; 0) is a per-call argument there
/// and has no configuration key; this sampler runs with its default, s_churn = 0, and never draws noise.
/// An explicit timestep list takes σ_t at each timestep; it cannot be combined with Karras or log-linear σ, which
/// choose their own noise levels.
/// </remarks>
public sealed class EulerScheduler : EulerSchedulerBase
{
    private readonly bool _logLinear;
    private readonly bool _karras;
    private readonly bool _finalSigmaMin;
    private readonly bool _continuousTimesteps;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> for an invalid configuration.</summary>
    public EulerScheduler(SchedulerConfig config) : base(SamplerNames.Euler, config)
    {
        _logLinear = ConfigNames.RequireOneOf("interpolation_type", Config.InterpolationType ?? "linear", "linear", "log_linear") == "log_linear";
        _finalSigmaMin = ConfigNames.RequireOneOf("final_sigmas_type", Config.FinalSigmasType ?? "zero", "zero", "sigma_min") == "sigma_min";
        var continuous = ConfigNames.RequireOneOf("timestep_type", Config.TimestepType ?? "discrete", "discrete", "continuous") == "continuous";
        // The reference feeds c_noise = ¼·ln σ (Karras et al. 2022, table 1) only to v-prediction models; other
        // prediction types keep discrete timesteps even when "continuous" is asked for.
        _continuousTimesteps = continuous && Config.PredictionType == PredictionType.VPrediction;
        _karras = Config.UseKarrasSigmas ?? false;
    }

    /// <summary>False with Karras or log-linear σ, or continuous timesteps: those choose their own noise levels.</summary>
    public override bool AcceptsExplicitTimesteps => !_karras && !_logLinear && !_continuousTimesteps;

    /// <summary>σ_min of the training schedule with <c>final_sigmas_type</c> sigma_min, else 0.</summary>
    protected override double FinalSigma => _finalSigmaMin ? TrainingSigmas[0] : 0;

    /// <inheritdoc/>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        // 1. Timesteps of the configured spacing.
        var timesteps = SpacedTimesteps(numInferenceSteps);

        // 2. Their noise levels: σ_t interpolated linearly, or — log_linear — n+1 levels evenly spaced in log σ from
        //    σ_max to σ_min. Reproduced on purpose as the reference has it: those levels ignore the timesteps, and
        //    with n+1 of them for n steps the run ends at σ_min, never reaching the final σ (Sigmas has n+2 entries).
        var sigmas = _logLinear ? LogLinearSigmas(numInferenceSteps + 1) : InterpolateSigmas(timesteps);

        // 3. Karras spacing (eq. 5) between the ends of that table, or the configured σ_min/σ_max; each timestep is
        //    then the fractional training timestep of its σ.
        if (_karras)
        {
            double sigmaMin = Config.SigmaMin ?? sigmas[^1], sigmaMax = Config.SigmaMax ?? sigmas[0];
            if (!(sigmaMin < sigmaMax))
                throw new SchedulerConfigException(Config.SigmaMin is null ? "sigma_max" : "sigma_min", Format(Config.SigmaMin ?? sigmaMax),
                    $"a value that keeps sigma_min below sigma_max (this schedule's noise levels span [{Format(sigmas[^1])}, {Format(sigmas[0])}])");
            sigmas = SigmaMath.Karras(sigmaMin, sigmaMax, numInferenceSteps);
            var logSigmas = ReferenceFloat32.LogSigmas(TrainingSigmas);
            timesteps = new double[sigmas.Length];
            for (var i = 0; i < sigmas.Length; i++) timesteps[i] = ReferenceFloat32.SigmaToTimestep(sigmas[i], logSigmas);
            ToFloat32(timesteps);
        }

        // 4. The level after the last step, then (continuous timesteps) the network's noise input ¼·ln σ.
        SetSigmas(sigmas, FinalSigma);
        if (_continuousTimesteps)
        {
            timesteps = new double[Sigmas.Count - 1];
            for (var i = 0; i < timesteps.Length; i++) timesteps[i] = 0.25 * Math.Log(Sigmas[i]);
            ToFloat32(timesteps);
        }
        return timesteps;
    }

    /// <inheritdoc/>
    private protected override void Advance(ReadOnlySpan<float> sample, in Denoised x0, float sigma, float sigmaNext, Span<float> destination, INoiseSource noise) =>
        EulerStep(sample, x0, sigma, sigmaNext, destination);

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
