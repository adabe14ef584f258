using System.Globalization;
using System.Runtime.CompilerServices;
using System.Numerics.Tensors;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.DpmSolver;

/// <summary>
/// Multistep DPM-Solver: exponential integrators of the diffusion ODE written in λ = log(α_t/σ_t), half the log-SNR.
/// The linear part of the ODE is solved exactly and only the network's prediction is approximated, by a polynomial in λ
/// through the last one, two or three predictions ("DPM-Solver", Lu et al. 2022, https://arxiv.org/abs/2206.00927, which
/// integrates the noise prediction ε_θ; "DPM-Solver++", Lu et al. 2022, https://arxiv.org/abs/2211.01095, which integrates
/// the data prediction x_θ and is the better choice with guidance). With h = λ_t − λ_s, the first-order steps are
/// <list type="bullet">
/// <item><c>dpmsolver++</c>: x_t = (σ_t/σ_s)·x_s + α_t·(1 − e^{−h})·x_θ (DPM-Solver++ eq. 9, i.e. DDIM),</item>
/// <item><c>dpmsolver</c>: x_t = (α_t/α_s)·x_s − σ_t·(e^{h} − 1)·ε_θ (DPM-Solver eq. 3.7),</item>
/// <item><c>sde-dpmsolver++</c> / <c>sde-dpmsolver</c>: the same integrator applied to the reverse SDE, which adds fresh
/// Gaussian noise every step,</item>
/// </list>
/// and the multistep corrections use the divided differences D1 = (m0 − m1)/r0 (and D2 for third order) of the
/// stored predictions m0, m1, m2, with r = h_previous/h (DPM-Solver++ Algorithm 2).
/// </summary>
/// <remarks>
/// <para>
/// Defaults as the reference (DPMSolverMultistepScheduler): <c>solver_order</c> 2, <c>algorithm_type</c> dpmsolver++,
/// <c>solver_type</c> midpoint, <c>lower_order_final</c> true, <c>euler_at_final</c> false, <c>use_karras_sigmas</c> false,
/// <c>final_sigmas_type</c> zero, <c>timestep_spacing</c> linspace, <c>lambda_min_clipped</c> −∞.
/// All noise levels come from the σ table (<see cref="Sigmas"/>, σ of the variance-exploding view x/√ᾱ), so Karras
/// spacing is honoured exactly even though the network sees rounded timesteps. <c>use_exponential_sigmas</c> and
/// <c>use_beta_sigmas</c> space σ between the ends of the whole training table (as the reference does; spacing and
/// <c>steps_offset</c> then have no effect) and truncate each σ's timestep, so a timestep may repeat.
/// </para>
/// <para>
/// As in the reference: <c>deis</c> is read as <c>dpmsolver++</c> and the solver types <c>logrho</c>, <c>bh1</c>,
/// <c>bh2</c> (of DEIS/UniPC configurations) as <c>midpoint</c>; the noise-prediction algorithms refuse
/// <c>final_sigmas_type</c> zero (their step to σ = 0 is undefined); <c>thresholding</c> acts on x₀ (for the
/// noise-prediction algorithms through x₀ and back); <c>variance_type</c> learned/learned_range is accepted, and the
/// caller passes only the predicted mean channels as the model output. The reference has no third-order
/// <c>sde-dpmsolver</c> step, so that combination is refused.
/// </para>
/// <para>
/// Where this differs from the reference, on purpose: <c>sigma_min</c>/<c>sigma_max</c> (SDK keys) bound the Karras
/// spacing when given (the reference's class has no such keys); step counts that would repeat a timestep are refused
/// (the reference repeats it, and the step after a repeat divides 0 by 0); <see cref="AddNoise"/> off the schedule uses
/// the training σ (the reference uses the last step's σ).
/// </para>
/// </remarks>
public class DpmSolverSampler : SamplerBase, ISigmaSampler, ICfgPlusPlusSampler
{
    // lower_order_final lowers the order of the last two steps only for schedules shorter than this, as the reference does.
    private const int LowerOrderFinalStepLimit = 15;

    // Buffer slots: the prediction history is a ring of up to three slots (0–2), the rest is per-step scratch.
    private const int ThresholdX0Slot = 3, NoiseSlot = 4, ThresholdSlot = 5, UnconditionalSlot = 6, ShiftedSampleSlot = 7;

    private readonly int _order;
    private readonly Algorithm _algorithm;
    private readonly bool _heun, _lowerOrderFinal, _eulerAtFinal, _useKarras, _finalSigmaIsZero;
    private readonly SigmaSpacing _spacing;
    private readonly double _lambdaMinClipped;
    // The training table as the reference holds it: float32 σ_t = √((1−ᾱ)/ᾱ) of the float32 ᾱ, numpy's float32 log of
    // it (for σ → timestep), and λ_t = log √ᾱ − log √(1−ᾱ) in torch's float32 (for lambda_min_clipped).
    private readonly double[] _trainSigmas, _trainIndices;
    private readonly float[] _logTrainSigmas, _trainLambdas;
    private readonly bool _cosine;
    // use_flow_sigmas: flow σ ∈ (0, 1) with α = 1 − σ, σ_t = σ (VpFloat32's flow view), spaced as the shifted flow schedule.
    private readonly bool _flow;
    private double? _mu;
    // The step σ table (float32 values) and each entry's α, σ_t and λ in float32 (VpFloat32).
    private double[] _sigmas = [];
    private float[] _sigmas32 = [], _alphas = [], _sigmaTs = [], _lambdas = [];
    private int _newest, _lowerOrderNums;

    private enum Algorithm { DpmSolverPlusPlus, DpmSolver, SdeDpmSolverPlusPlus, SdeDpmSolver }

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> naming the key for an invalid or undefined configuration.</summary>
    public DpmSolverSampler(SchedulerConfig config) : base(SamplerNames.DpmSolver, config, offersFlowSigmas: true)
    {
        _order = Config.SolverOrder ?? 2;
        if (_order > 3) throw new SchedulerConfigException("solver_order", _order.ToString(CultureInfo.InvariantCulture), "1, 2 or 3 (DPM-Solver has no higher-order multistep update)");

        // DEIS and UniPC configurations use names this method does not define; the reference maps them as here.
        var algorithm = Config.AlgorithmType ?? "dpmsolver++";
        if (algorithm == "deis") algorithm = "dpmsolver++";
        _algorithm = ConfigNames.RequireOneOf("algorithm_type", algorithm, "dpmsolver++", "dpmsolver", "sde-dpmsolver++", "sde-dpmsolver") switch
        {
            "dpmsolver++" => Algorithm.DpmSolverPlusPlus,
            "dpmsolver" => Algorithm.DpmSolver,
            "sde-dpmsolver++" => Algorithm.SdeDpmSolverPlusPlus,
            _ => Algorithm.SdeDpmSolver,
        };
        var solverType = Config.SolverType ?? "midpoint";
        if (solverType is "logrho" or "bh1" or "bh2") solverType = "midpoint";
        _heun = ConfigNames.RequireOneOf("solver_type", solverType, "midpoint", "heun") == "heun";

        var finalSigmas = ConfigNames.RequireOneOf("final_sigmas_type", Config.FinalSigmasType ?? "zero", "zero", "sigma_min");
        _finalSigmaIsZero = finalSigmas == "zero";
        if (_finalSigmaIsZero && _algorithm is Algorithm.DpmSolver or Algorithm.SdeDpmSolver)
            throw new SchedulerConfigException("final_sigmas_type", ConfigNames.Quote(finalSigmas),
                $"\"sigma_min\" for algorithm_type \"{algorithm}\": a noise-prediction step to σ = 0 divides by zero (use dpmsolver++ to end at σ = 0)");
        if (_order == 3 && _algorithm == Algorithm.SdeDpmSolver)
            throw new SchedulerConfigException("solver_order", "3", "1 or 2 for algorithm_type \"sde-dpmsolver\" (the method has no third-order step)");

        _lowerOrderFinal = Config.LowerOrderFinal ?? true;
        _eulerAtFinal = Config.EulerAtFinal ?? false;
        _spacing = IntegerTimestepSigmas.SpacingOf(Config);
        _useKarras = _spacing == SigmaSpacing.Karras;
        _lambdaMinClipped = Config.LambdaMinClipped ?? double.NegativeInfinity;
        _flow = Config.UseFlowSigmas == true;
        CheckFlowOptions(algorithm);

        // σ_t = √((1−ᾱ_t)/ᾱ_t) for every training timestep, in float32 from the float32 ᾱ. A zero-terminal-SNR schedule
        // has ᾱ = 0 at the end, where σ would be infinite; the reference replaces that ᾱ with 2^−24 and so do we.
        var count = Schedule.NumTrainTimesteps;
        var alphasCumprod = Float32Schedule.AlphasCumprod(Config);
        if (Config.RescaleBetasZeroSnr) alphasCumprod[^1] = SigmaMath.ZeroTerminalSnrAlphaCumprod;
        var sigmas32 = VpFloat32.TrainingSigmas(alphasCumprod);
        _trainSigmas = Array.ConvertAll(sigmas32, v => (double)v);
        _logTrainSigmas = ReferenceFloat32.LogSigmas(_trainSigmas);
        _trainLambdas = new float[count];
        _trainIndices = new double[count];
        for (var t = 0; t < count; t++)
        {
            var alphaBar = (float)alphasCumprod[t];
            _trainLambdas[t] = VpFloat32.Lambda(MathF.Sqrt(alphaBar), MathF.Sqrt(1 - alphaBar));
            _trainIndices[t] = t;
        }
        _cosine = Config.BetaSchedule == BetaSchedule.SquaredCosCapV2 && Config.TrainedBetas is null;

        if (_spacing != SigmaSpacing.Timesteps && Config.SigmaMin is { } sigmaMin && !(sigmaMin < (Config.SigmaMax ?? _trainSigmas[^1])))
            throw new SchedulerConfigException("sigma_min", sigmaMin.ToString("R", CultureInfo.InvariantCulture),
                $"a number below sigma_max = {(Config.SigmaMax ?? _trainSigmas[^1]).ToString("R", CultureInfo.InvariantCulture)} for {_spacing} spacing");
    }

    /// <inheritdoc/>
    public IReadOnlyList<double> Sigmas => _sigmas;

    /// <inheritdoc/>
    public double SigmaMin => _trainSigmas[0];

    /// <inheritdoc/>
    public double SigmaMax => _trainSigmas[^1];

    /// <summary>False with Karras, exponential or beta σ, which choose their own timesteps (the reference refuses both).</summary>
    public override bool AcceptsExplicitTimesteps => _spacing == SigmaSpacing.Timesteps;

    // use_flow_sigmas and flow_prediction as the reference combines them: flow_prediction only on flow σ and with a data-
    // prediction (++) algorithm (the reference's noise-prediction conversion has no flow case); no other σ spacing with
    // flow σ (the reference would take that spacing's VP σ and read them as flow σ, α = 1 − σ < 0).
    private void CheckFlowOptions(string algorithm)
    {
        if (Config.PredictionType == PredictionType.FlowPrediction && !_flow)
            throw new SchedulerConfigException("prediction_type", "\"flow_prediction\"", "epsilon, sample or v_prediction, or use_flow_sigmas true with flow_prediction");
        if (Config.PredictionType == PredictionType.FlowPrediction && !IsDataPrediction)
            throw new SchedulerConfigException("algorithm_type", ConfigNames.Quote(algorithm), "dpmsolver++ or sde-dpmsolver++ with prediction_type \"flow_prediction\"");
        if (_flow && (_spacing != SigmaSpacing.Timesteps || Config.UseLuLambdas == true))
            throw new SchedulerConfigException("use_flow_sigmas", "true", "false with use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas or use_lu_lambdas (one noise-level spacing at a time)");
    }

    /// <summary>
    /// Null for <c>dpmsolver++</c> of order 1 or 2 (DPM++ 2M, ComfyUI's <c>sample_dpmpp_2m_cfg_pp</c>), either solver type;
    /// otherwise why not: the noise-prediction and SDE algorithms and the third order have no CFG++ form here.
    /// </summary>
    public string? CfgPlusPlusUnsupportedReason =>
        _algorithm != Algorithm.DpmSolverPlusPlus
            ? $"CFG++ is defined for algorithm_type \"dpmsolver++\" (the ODE solver on x₀ predictions), not \"{Config.AlgorithmType}\""
            : _order > 2 ? "solver_order 3 has no CFG++ form; use solver_order 2 (DPM++ 2M) or 1" : null;

    /// <summary>Whether the σ are flow σ (<c>use_flow_sigmas</c>).</summary>
    protected bool UsesFlowSigmas => _flow;

    /// <summary>
    /// μ for the next count-based schedule with <c>use_dynamic_shifting</c>: the flow shift becomes e^μ, as the reference's
    /// set_timesteps(mu=…) sets it. Null leaves the configured <c>flow_shift</c>.
    /// </summary>
    protected void UseMu(double? mu)
    {
        if (mu is { } value && !double.IsFinite(value))
            throw new SchedulerConfigException("mu", value.ToString("R", CultureInfo.InvariantCulture), "a finite number");
        _mu = mu;
    }

    /// <inheritdoc/>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        double[] timesteps;
        if (_flow) return FlowTimesteps(numInferenceSteps);
        if (_useKarras)
        {
            // σ_i by Karras et al. 2022 eq. 5 between the schedule's extremes; the network is shown the nearest integer
            // timestep (the reference's float32 log-σ interpolation, rounded; truncated on the cosine schedule).
            var karras = SigmaMath.Karras(Config.SigmaMin ?? _trainSigmas[0], Config.SigmaMax ?? _trainSigmas[^1], numInferenceSteps);
            UseSigmas(karras);
            return VpFloat32.RoundedTimesteps(karras, _logTrainSigmas, truncate: _cosine);
        }
        if (Config.UseLuLambdas == true) return LuLambdaTimesteps(numInferenceSteps);
        if (_spacing != SigmaSpacing.Timesteps) return ExponentialOrBetaTimesteps(numInferenceSteps);

        timesteps = SpacedTimesteps(numInferenceSteps);
        var sigmas = new double[timesteps.Length];
        for (var i = 0; i < sigmas.Length; i++) sigmas[i] = _trainSigmas[(int)timesteps[i]];
        UseSigmas(sigmas);
        return timesteps;
    }

    /// <inheritdoc/>
    /// <remarks>σ at each timestep by linear interpolation of the training σ table (exact at integers). Fractional
    /// timesteps are kept as given; the reference would truncate them to integers.</remarks>
    protected override double[] UseExplicitTimesteps(double[] timesteps)
    {
        var sigmas = new double[timesteps.Length];
        for (var i = 0; i < sigmas.Length; i++) sigmas[i] = SigmaMath.Interpolate(timesteps[i], _trainIndices, _trainSigmas);
        UseSigmas(sigmas);
        return timesteps;
    }

    /// <inheritdoc/>
    /// <remarks>As with <c>use_karras_sigmas</c>: the step uses each σ exactly, the network sees the nearest whole timestep.</remarks>
    public void SetSigmas(IReadOnlyList<double> sigmas)
    {
        if (_flow) throw new SchedulerConfigException("sigmas", "an explicit list", "a step count with use_flow_sigmas (the flow schedule is made from the count)");
        var list = SigmaMath.ValidateSigmas(sigmas);
        var timesteps = TimestepsForSigmas(list);
        for (var i = 1; i < timesteps.Length; i++)
            if (!(timesteps[i] < timesteps[i - 1]))
                throw new SchedulerConfigException($"sigmas[{i}]", list[i].ToString("R", CultureInfo.InvariantCulture),
                    $"a σ whose nearest training timestep differs from the previous one's ({timesteps[i - 1]}); use fewer steps");
        UseSigmas(list);
        ReplaceTimesteps(timesteps);
    }

    // Exponential or beta σ between the ends of the whole training table, as the reference takes them (its float32 σ
    // table, so spacing and steps_offset have no effect); each timestep is the training timestep of its σ computed with
    // the reference's float32 log table and truncated, so neighbouring timesteps may repeat (their σ do not). The steps
    // use the exact σ.
    private double[] ExponentialOrBetaTimesteps(int numInferenceSteps)
    {
        var alphasCumprod = Float32Schedule.AlphasCumprod(Config);
        if (Config.RescaleBetasZeroSnr) alphasCumprod[^1] = SigmaMath.ZeroTerminalSnrAlphaCumprod;
        double FloatSigma(int t) => MathF.Sqrt((1 - (float)alphasCumprod[t]) / (float)alphasCumprod[t]);
        var trainingSigmas = new double[alphasCumprod.Length];
        for (var t = 0; t < trainingSigmas.Length; t++) trainingSigmas[t] = FloatSigma(t);
        double sigmaMin = Config.SigmaMin ?? trainingSigmas[0], sigmaMax = Config.SigmaMax ?? trainingSigmas[^1];
        var sigmas = _spacing == SigmaSpacing.Exponential
            ? SigmaMath.Exponential(sigmaMin, sigmaMax, numInferenceSteps)
            : SigmaMath.Beta(sigmaMin, sigmaMax, numInferenceSteps);
        var logSigmas = ReferenceFloat32.LogSigmas(trainingSigmas);
        var timesteps = new double[sigmas.Length];
        for (var i = 0; i < sigmas.Length; i++) timesteps[i] = Math.Truncate(ReferenceFloat32.SigmaToTimestep(sigmas[i], logSigmas));
        UseSigmas(sigmas);
        return timesteps;
    }

    // Flow σ (use_flow_sigmas) as the reference spaces them: 1 − linspace(1, 1/N, n + 1) in double, shifted by
    // s·σ/(1 + (s − 1)·σ) with s = flow_shift (e^μ with dynamic shifting), descending without the final 0; the timesteps
    // are σ·N truncated to integers (so neighbours may repeat; steps are tracked by position).
    private double[] FlowTimesteps(int numInferenceSteps)
    {
        double shift;
        if (Config.UseDynamicShifting == true)
            shift = Math.Exp(_mu ?? throw new SchedulerConfigException("mu", "(none)",
                "a finite number given when timesteps are set: this configuration has use_dynamic_shifting (FlowShift.Mu computes μ from the image size)"));
        else shift = Config.FlowShift ?? 1.0;
        var count = Schedule.NumTrainTimesteps;
        var sigmas = FlowShift.SolverFlowSigmas(numInferenceSteps, count, shift);
        UseSigmas(sigmas);
        return Array.ConvertAll(sigmas, s => Math.Truncate(s * count));
    }

    // Lu et al.'s schedule (use_lu_lambdas): λ = −log σ uniform between the ends of the training table's float32 log σ,
    // σ = e^{log σ} in double, and timesteps rounded as Karras's are.
    private double[] LuLambdaTimesteps(int numInferenceSteps)
    {
        double lambdaMax = _logTrainSigmas[^1], lambdaMin = _logTrainSigmas[0];
        var ramp = TimestepSpacings.Linspace(0, 1, numInferenceSteps);
        var sigmas = new double[numInferenceSteps];
        for (var i = 0; i < sigmas.Length; i++) sigmas[i] = Math.Exp(lambdaMax + ramp[i] * (lambdaMin - lambdaMax));
        UseSigmas(sigmas);
        return VpFloat32.RoundedTimesteps(sigmas, _logTrainSigmas, truncate: _cosine);
    }

    // The nearest whole training timestep of each σ, by the reference's float32 log-σ interpolation.
    private double[] TimestepsForSigmas(double[] sigmas) => VpFloat32.RoundedTimesteps(sigmas, _logTrainSigmas, truncate: false);

    /// <inheritdoc/>
    protected override void OnReset()
    {
        _lowerOrderNums = 0;
        _newest = _order - 1;
    }

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        var n = input.Sample.Length;
        var last = Timesteps.Count - 1;

        // 1. Lower orders at the end. The step to σ = 0 must be first order (h = ∞ leaves no room for differences);
        //    short schedules (fewer than 15 steps) also take their last two steps at lower order for stability.
        var shortSchedule = _lowerOrderFinal && Timesteps.Count < LowerOrderFinalStepLimit;
        var lowerOrderFinal = stepIndex == last && (_eulerAtFinal || shortSchedule || _finalSigmaIsZero);
        var lowerOrderSecond = stepIndex == last - 1 && shortSchedule;

        // Every buffer the run will need, taken now so that no later step allocates (higher orders start later).
        for (var slot = 0; slot < _order; slot++) Buffer(slot, n);
        if (_algorithm is Algorithm.SdeDpmSolverPlusPlus or Algorithm.SdeDpmSolver) Buffer(NoiseSlot, n);
        if (Config.Thresholding) Buffer(ThresholdSlot, n / input.BatchSize);
        if (Config.Thresholding && !IsDataPrediction) Buffer(ThresholdX0Slot, n);
        // CFG++ (the loop passes the unconditional output only to a run that uses it): its x₀ and the shifted sample.
        var cfgPlusPlus = !input.UnconditionalOutput.IsEmpty;
        if (cfgPlusPlus)
        {
            if (input.UnconditionalOutput.Length != n)
                throw new ArgumentException($"The unconditional output has {input.UnconditionalOutput.Length} values where the sample has {n}.", nameof(input));
            Buffer(UnconditionalSlot, n);
            Buffer(ShiftedSampleSlot, n);
        }

        // 2. α, σ (variance-preserving) and λ at the current and the next noise level, float32 as the reference's.
        float alphaS = _alphas[stepIndex], sigmaS = _sigmaTs[stepIndex];
        float alphaT = _alphas[stepIndex + 1], sigmaT = _sigmaTs[stepIndex + 1];
        var h = StepSize(stepIndex);

        // 3. The order of this step: limited by the history there is, and lowered at the end as decided in 1.
        var order = _order == 1 || _lowerOrderNums < 1 || lowerOrderFinal ? 1
            : _order == 2 || _lowerOrderNums < 2 || lowerOrderSecond ? 2
            : 3;

        // 4. The prediction this algorithm integrates (x₀ for the ++ variants, ε otherwise), pushed onto the history.
        //    The common case — an ε model, x₀ integration, no thresholding, a second-order step — converts inside the
        //    update's pass (6) rather than in a pass of its own; the conversion is the same formula either way. (The
        //    third-order update is left in two passes: measured, one pass with the conversion's division in it was slower.)
        _newest = (_newest + 1) % _order;
        var m0 = Buffer(_newest, n);
        var convertInUpdate = order == 2 && IsDataPrediction && Config.PredictionType == PredictionType.Epsilon && !Config.Thresholding && !cfgPlusPlus;
        var wrote = !output.PredictedOriginal.IsEmpty;
        if (!convertInUpdate)
        {
            ConvertModelOutput(input, alphaS, sigmaS, m0);
            if (wrote)
            {
                if (IsDataPrediction) m0.CopyTo(output.PredictedOriginal);
                else PredictionMath.ToSample(PredictionType.Epsilon, m0, input.Sample, alphaS, sigmaS, output.PredictedOriginal);
            }
        }

        // 4b. CFG++ (Chung et al. 2024) as ComfyUI's sample_dpmpp_2m_cfg_pp computes it: x_t = e^{−h}·x_s + x₀ − e^{−h}·x₀ᵘ
        //     + (1 − e^{−h})/(2r)·(x₀ − x₀ᵘ_prev) in the variance-exploding view. That is the ordinary update from the shifted
        //     sample x̃ = x_s + α_s·(x₀ − x₀ᵘ) (denoise with the guided x₀, re-noise along the unconditional ε), with the
        //     unconditional x₀ᵘ kept in the history for the next step's difference (stored after the update, below).
        var sample = input.Sample;
        var unconditional = Span<float>.Empty;
        if (cfgPlusPlus)
        {
            unconditional = Buffer(UnconditionalSlot, n);
            ConvertModelOutput(input with { ModelOutput = input.UnconditionalOutput }, alphaS, sigmaS, unconditional);
            var shifted = Buffer(ShiftedSampleSlot, n);
            ElementWise.Apply(new ShiftAlongGuidance(alphaS), input.Sample, m0, unconditional, shifted);
            sample = shifted;
        }

        // 5. The SDE variants draw one standard-normal tensor of the sample's size every step, before the update.
        Span<float> z = default;
        if (_algorithm is Algorithm.SdeDpmSolverPlusPlus or Algorithm.SdeDpmSolver)
        {
            z = Buffer(NoiseSlot, n);
            noise.NextGaussian(z);
        }

        // 6. x_t = c_x·x_s + c0·D0 + c1·D1 + c2·D2 + c_z·z, in one pass over memory (ElementWise), rounded as the
        //    reference's tensor expression rounds: D1 = (1/r0)·(m0 − m1) (third order: D1_0, D1_1, then D1 and D2 from
        //    them), each term a product, and the terms summed left to right in the reference's order (sample first).
        var c = Coefficients(order, h, alphaS, sigmaS, alphaT, sigmaT);
        if (order == 1)
        {
            if (z.IsEmpty) PredictionMath.Combine(c.Sample, sample, c.D0, m0, output.PrevSample);
            else PredictionMath.Combine(c.Sample, sample, c.D0, m0, c.Noise, z, output.PrevSample);
        }
        else if (order == 2)
        {
            // D1 = (1/r0)·(m0 − m1) with r0 = h_{−1}/h.
            var m1 = History(1, n);
            var r0 = StepSize(stepIndex - 1) / h;
            var secondOrder = new SecondOrder(c.Sample, c.D0, 1 / r0, c.D1, c.Noise);
            var fromEpsilon = new SecondOrderFromEpsilon(new EpsilonToSample(-sigmaS, alphaS), secondOrder);
            if (convertInUpdate && z.IsEmpty) ElementWise.Apply(fromEpsilon, input.ModelOutput, sample, m1, output.PrevSample, m0);
            else if (convertInUpdate) ElementWise.Apply(fromEpsilon, input.ModelOutput, sample, m1, z, output.PrevSample, m0);
            else if (z.IsEmpty) ElementWise.Apply(secondOrder, m0, m1, sample, output.PrevSample);
            else ElementWise.Apply(secondOrder, m0, m1, z, sample, output.PrevSample);
        }
        else
        {
            // D1_0 = (1/r0)·(m0 − m1), D1_1 = (1/r1)·(m1 − m2); D1 = D1_0 + r0/(r0+r1)·(D1_0 − D1_1), D2 = 1/(r0+r1)·(D1_0 − D1_1).
            var m1 = History(1, n);
            var m2 = History(2, n);
            float r0 = StepSize(stepIndex - 1) / h, r1 = StepSize(stepIndex - 2) / h;
            var thirdOrder = new ThirdOrder(c.Sample, c.D0, c.D1, c.D2, c.Noise, 1 / r0, 1 / r1, r0 / (r0 + r1), 1 / (r0 + r1));
            if (z.IsEmpty) ElementWise.Apply(thirdOrder, m0, m1, m2, sample, output.PrevSample);
            else ElementWise.Apply(thirdOrder, m0, m1, m2, z, sample, output.PrevSample);
        }
        if (convertInUpdate && wrote) m0.CopyTo(output.PredictedOriginal);
        if (cfgPlusPlus) unconditional.CopyTo(m0);

        if (_lowerOrderNums < _order) _lowerOrderNums++;
        return wrote;
    }

    /// <summary>
    /// The forward process at the noise level the schedule uses for each timestep: x = α·x₀ + σ·ε with α = 1/√(1+σ²),
    /// σ_vp = σ·α. After timesteps are set, a timestep of the schedule takes its σ from <see cref="Sigmas"/> (which
    /// differs from the training σ with Karras spacing); other timesteps, and all before timesteps are set, take the
    /// training schedule's σ, interpolated at fractional timesteps.
    /// </summary>
    /// <remarks>Where a timestep appears twice in the schedule the second is used, as the reference does. For a timestep
    /// that is not in the schedule the reference takes the last step's σ, which noises to the wrong level; this does not.</remarks>
    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        var itemLength = CheckAddNoise(original, noise, timesteps, destination);
        for (var b = 0; b < timesteps.Length; b++)
        {
            var t = timesteps[b];
            if (!(t >= 0 && t <= Schedule.NumTrainTimesteps - 1))
                throw new SamplerStateException($"Timestep {Format(t)} is outside [0, {Schedule.NumTrainTimesteps - 1}].");
            var index = ScheduleIndex(t);
            var sigma = index >= 0 ? _sigmas32[index]
                : _flow ? (float)(t / Schedule.NumTrainTimesteps)
                : (float)SigmaMath.Interpolate(t, _trainIndices, _trainSigmas);
            var (alpha, sigmaVp) = VpFloat32.AlphaSigma(sigma, _flow);
            var range = new Range(b * itemLength, (b + 1) * itemLength);
            PredictionMath.Combine(alpha, original[range], sigmaVp, noise[range], destination[range]);
        }
    }

    private bool IsDataPrediction => _algorithm is Algorithm.DpmSolverPlusPlus or Algorithm.SdeDpmSolverPlusPlus;

    /// <summary>The stored prediction <paramref name="age"/> steps back (0 = this step's).</summary>
    private Span<float> History(int age, int length) => Buffer((_newest - age + _order) % _order, length);

    /// <summary>h of the step that started at <paramref name="stepIndex"/>: λ(σ_{i+1}) − λ(σ_i), in float32.</summary>
    private float StepSize(int stepIndex) => _lambdas[stepIndex + 1] - _lambdas[stepIndex];

    /// <summary>
    /// The reference's <c>convert_model_output</c>: x₀ (thresholded if asked) for the ++ algorithms, ε for the others,
    /// whose thresholding goes through x₀ and back.
    /// </summary>
    private void ConvertModelOutput(in StepInput input, double alpha, double sigma, Span<float> destination)
    {
        var type = Config.PredictionType;
        if (IsDataPrediction)
        {
            PredictionMath.ToSample(type, input.ModelOutput, input.Sample, alpha, sigma, destination);
            if (Config.Thresholding) Threshold(destination, input.BatchSize);
            return;
        }

        PredictionMath.ToEpsilon(type, input.ModelOutput, input.Sample, alpha, sigma, destination);
        if (Config.Thresholding)
        {
            var x0 = Buffer(ThresholdX0Slot, destination.Length);
            PredictionMath.ToSample(PredictionType.Epsilon, destination, input.Sample, alpha, sigma, x0);
            Threshold(x0, input.BatchSize);
            PredictionMath.ToEpsilon(PredictionType.Sample, x0, input.Sample, alpha, sigma, destination);
        }
    }

    private void Threshold(Span<float> x0, int batchSize) =>
        SampleThresholding.Dynamic(x0, batchSize, Config.DynamicThresholdingRatio, Config.SampleMaxValue, Buffer(ThresholdSlot, x0.Length / batchSize));

    /// <summary>
    /// The coefficients of x_t = c_x·x_s + c0·D0 + c1·D1 + c2·D2 + c_z·z, each a float32 value rounded as the reference
    /// forms it from its 0-dimensional float32 tensors (torch's float32 exp; a subtracted term's coefficient negated,
    /// which rounds the same).
    /// </summary>
    private StepCoefficients Coefficients(int order, float h, float alphaS, float sigmaS, float alphaT, float sigmaT)
    {
        static float Exp(float x) => ReferenceFloat32.TorchExp(x);
        switch (_algorithm)
        {
            case Algorithm.DpmSolverPlusPlus:
            {
                // Data prediction: the linear part is σ_t/σ_s, the integral ∫ e^{−λ} x_θ dλ gives α_t·(e^{−h} − 1)-type terms.
                var b = alphaT * (Exp(-h) - 1f);
                var c1 = order == 3 || _heun ? alphaT * ((Exp(-h) - 1f) / h + 1f) : -(0.5f * b);
                var c2 = -(alphaT * ((Exp(-h) - 1f + h) / (h * h) - 0.5f));
                return new(sigmaT / sigmaS, -b, order >= 2 ? c1 : 0, order == 3 ? c2 : 0, 0);
            }
            case Algorithm.DpmSolver:
            {
                // Noise prediction: the linear part is α_t/α_s, the integral gives σ_t·(e^{h} − 1)-type terms.
                var b = sigmaT * (Exp(h) - 1f);
                var c1 = order == 3 || _heun ? -(sigmaT * ((Exp(h) - 1f) / h - 1f)) : -(0.5f * b);
                var c2 = -(sigmaT * ((Exp(h) - 1f - h) / (h * h) - 0.5f));
                return new(alphaT / alphaS, -b, order >= 2 ? c1 : 0, order == 3 ? c2 : 0, 0);
            }
            case Algorithm.SdeDpmSolverPlusPlus:
            {
                // The reverse SDE doubles the drift's exponent: e^{−2h} terms, plus fresh noise of variance σ_t²·(1 − e^{−2h}).
                var b = alphaT * (1f - Exp(-2f * h));
                var c1 = order == 3 || _heun ? alphaT * ((1f - Exp(-2f * h)) / (-2f * h) + 1f) : 0.5f * b;
                // Reproduced on purpose: the reference subtracts 0.5 here. Integrating the quadratic term exactly,
                // α_t·∫₀^h 2e^{−2(h−u)}·u²/2 du / h², gives α_t·((1 − e^{−2h} − 2h)/(2h)² + 0.5), which is O(h); with −0.5
                // the coefficient is ≈ −α_t, so this "third-order" step is only first-order accurate (on Gaussian data
                // it overshoots the spread by 8.6 % at 250 steps where + 0.5 is within 0.5 %). The reference vectors
                // (dpm_solver-112/113) follow −0.5 and fail with + 0.5.
                var twoH = 2f * h;
                var c2 = alphaT * ((1f - Exp(-2f * h) - 2f * h) / (twoH * twoH) - 0.5f);
                return new(sigmaT / sigmaS * Exp(-h), b, order >= 2 ? c1 : 0, order == 3 ? c2 : 0, sigmaT * MathF.Sqrt(1f - Exp(-2f * h)));
            }
            default:
            {
                // sde-dpmsolver (noise prediction on the reverse SDE): ε enters twice as strongly as in the ODE.
                var b = sigmaT * (Exp(h) - 1f);
                var c1 = _heun ? -(2f * (sigmaT * ((Exp(h) - 1f) / h - 1f))) : -b;
                return new(alphaT / alphaS, -(2f * b), order >= 2 ? c1 : 0, 0, sigmaT * MathF.Sqrt(Exp(2f * h) - 1f));
            }
        }
    }

    /// <summary>Timesteps of <c>timestep_spacing</c> up to the last one that <c>lambda_min_clipped</c> allows (the reference's set_timesteps).</summary>
    private double[] SpacedTimesteps(int numInferenceSteps)
    {
        // Clip the smallest λ for numerical stability (critical for the cosine schedule): timesteps whose λ lies below the
        // clip are left out, so the schedule ends at training timestep `end` − 1.
        var count = Schedule.NumTrainTimesteps;
        var clipped = 0;
        for (var t = 0; t < count; t++)
            if (_trainLambdas[t] < _lambdaMinClipped) clipped++;
        return IntegerTimestepSigmas.SpacedTimesteps(Config.TimestepSpacing ?? TimestepSpacing.Linspace, count, numInferenceSteps, Config.StepsOffset, count - clipped);
    }

    /// <summary>Installs the σ table with the final σ appended (0, or σ of the first training timestep), and its λ.</summary>
    private void UseSigmas(double[] sigmas)
    {
        // The reference casts the table to float32 (its σ_min is the float32 σ of training step 0); α, σ_t and λ of each
        // entry are float32 too (VpFloat32).
        var result = new double[sigmas.Length + 1];
        sigmas.CopyTo(result, 0);
        result[^1] = _finalSigmaIsZero ? 0 : _trainSigmas[0];
        (_sigmas32, _alphas, _sigmaTs, _lambdas) = VpFloat32.Tables(result, _flow);
        _sigmas = Array.ConvertAll(_sigmas32, v => (double)v);
    }

    /// <summary>The position of <paramref name="timestep"/> in the schedule (the second one where it repeats), or −1.</summary>
    private int ScheduleIndex(double timestep)
    {
        var first = -1;
        for (var i = 0; i < Timesteps.Count; i++)
        {
            if (Timesteps[i] != timestep) continue;
            if (first >= 0) return i;
            first = i;
        }
        return first;
    }

    // x̃ = x + α_s·(x₀ − x₀ᵘ): the sample CFG++ steps from.
    private readonly record struct ShiftAlongGuidance(float Alpha) : ElementWise.IOperator3
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T x0, T unconditionalX0) where T : struct, IFloatVector<T> => sample + (x0 - unconditionalX0) * Alpha;
    }

    private readonly record struct StepCoefficients(float Sample, float D0, float D1, float D2, float Noise);

    // The multistep updates element by element, with the roundings of the chain of tensor operations they replace:
    // x₀ = (x_s − σ_s·ε)/α_s as (ε·(−σ_s) + x_s)/α_s: PredictionMath.ToSample's formula for an ε model.
    private readonly record struct EpsilonToSample(float NegativeSigma, float Alpha)
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T epsilon, T sample) where T : struct, IFloatVector<T> => (epsilon * NegativeSigma + sample) / Alpha;
    }

    // The second-order update from the model's ε: converts to m0 (kept as the second result, the history entry) and updates.
    private readonly record struct SecondOrderFromEpsilon(EpsilonToSample ToSample, SecondOrder Update) : ElementWise.IOperator3To2, ElementWise.IOperator4To2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T epsilon, T sample, T m1, out T m0) where T : struct, IFloatVector<T>
        {
            m0 = ToSample.Invoke(epsilon, sample);
            return Update.Invoke(m0, m1, sample);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T epsilon, T sample, T m1, T z, out T m0) where T : struct, IFloatVector<T>
        {
            m0 = ToSample.Invoke(epsilon, sample);
            return Update.Invoke(m0, m1, z, sample);
        }
    }

    // x_t = c_x·x_s + c0·m0 + c1·((1/r0)·(m0 − m1)) [+ c_z·z], summed left to right.
    private readonly record struct SecondOrder(float Sample, float D0, float InverseR0, float D1, float Noise) : ElementWise.IOperator3, ElementWise.IOperator4
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T m0, T m1, T sample) where T : struct, IFloatVector<T> =>
            sample * Sample + m0 * D0 + (m0 - m1) * InverseR0 * D1;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T m0, T m1, T z, T sample) where T : struct, IFloatVector<T> =>
            sample * Sample + m0 * D0 + (m0 - m1) * InverseR0 * D1 + z * Noise;
    }

    // D1_0 = (1/r0)·(m0 − m1), D1_1 = (1/r1)·(m1 − m2), D1 = D1_0 + k·(D1_0 − D1_1), D2 = (1/(r0+r1))·(D1_0 − D1_1);
    // x_t = c_x·x_s + c0·m0 + c1·D1 + c2·D2 [+ c_z·z], summed left to right.
    private readonly record struct ThirdOrder(float Sample, float D0, float D1, float D2, float Noise, float InverseR0, float InverseR1, float K, float InverseSum)
        : ElementWise.IOperator4, ElementWise.IOperator5
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T m0, T m1, T m2, T sample) where T : struct, IFloatVector<T> => Update(m0, m1, m2, sample);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T m0, T m1, T m2, T z, T sample) where T : struct, IFloatVector<T> => Update(m0, m1, m2, sample) + z * Noise;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private T Update<T>(T m0, T m1, T m2, T sample) where T : struct, IFloatVector<T>
        {
            var d10 = (m0 - m1) * InverseR0;
            var difference = d10 - (m1 - m2) * InverseR1;
            return sample * Sample + m0 * D0 + (d10 + difference * K) * D1 + difference * InverseSum * D2;
        }
    }
}
