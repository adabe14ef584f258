using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.UniPc;

/// <summary>
/// UniPC: a multistep predictor (UniP-p) and corrector (UniC-p) for the diffusion ODE written in λ = log(α_t/σ_t)
/// ("UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of Diffusion Models", Zhao et al. 2023,
/// https://arxiv.org/abs/2302.04867). Each step first corrects the sample it is given, using the model's output at that
/// sample (which costs no extra evaluation), then predicts the next one. With h = λ_t − λ_s, the data-prediction form
/// (§3.1, <c>predict_x0</c>) is
/// <code>x_t = (σ_t/σ_s)·x_s − α_t·(e^{−h} − 1)·m_s − α_t·B(h)·Σ_k a_k·D_k/r_k</code>
/// with D_k = m_{s_k} − m_s the differences of earlier predictions, r_k = (λ_{s_k} − λ_s)/h, and the weights a solving
/// the order conditions R·a = b (Algorithm 1/2: R_{ij} = r_j^{i−1}, b_i = i!·h̄·φ_{i+1}(h̄)/B(h), h̄ = −h). The
/// corrector adds the point t itself (r = 1, D = m_t − m_s) to the system. B(h) = h̄ is <c>bh1</c>, e^{h̄} − 1 is
/// <c>bh2</c> (§3.3). The noise-prediction form swaps α and σ and uses h̄ = h.
/// </summary>
/// <remarks>
/// <para>
/// Defaults as the reference (UniPCMultistepScheduler): <c>solver_order</c> 2, <c>solver_type</c> bh2, <c>predict_x0</c>
/// true, <c>lower_order_final</c> true, <c>disable_corrector</c> empty, <c>final_sigmas_type</c> zero,
/// <c>timestep_spacing</c> linspace. As there: the corrector's order is the previous predictor's, a second-order
/// predictor takes a = ½ rather than solving, a first-order corrector takes a = ½; <c>midpoint</c>, <c>heun</c> and
/// <c>logrho</c> read as bh2; <c>thresholding</c> acts on x₀ and only with <c>predict_x0</c>.
/// </para>
/// <para>
/// Where this differs from the reference, on purpose: combinations the reference turns into NaN on the last step
/// (<c>final_sigmas_type</c> zero with <c>predict_x0</c> false, or with <c>lower_order_final</c> false above first order)
/// are refused; bh1 with a final σ of 0 returns the x₀ prediction (the reference multiplies ∞ by 0); a step over a zero
/// interval (the repeated final σ of <c>sigma_min</c> with a σ spacing) returns its input; see also
/// <see cref="SigmaTableSamplerBase"/>.
/// </para>
/// </remarks>
public class UniPcSampler : SigmaTableSamplerBase
{
    // Buffer slots: predictions in a ring of order + 1 slots (0–3), then the corrected sample and thresholding scratch.
    private const int LastSampleSlot = 4, ThresholdSlot = 5;

    private readonly int _order;
    private readonly bool _predictX0, _bh2, _lowerOrderFinal, _finalSigmaIsZero;
    private readonly int[] _disableCorrector;
    private int _newest, _lowerOrderNums, _lastOrder;
    private bool _hasLastSample;
    // use_flow_sigmas: flow σ with α = 1 − σ (InstallFlowSigmas), spaced as the reference's flow branch; μ when dynamic.
    private readonly bool _flow;
    private double? _mu;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> naming the key for an invalid or undefined configuration.</summary>
    public UniPcSampler(SchedulerConfig config) : base(SamplerNames.UniPc, config, offersFlowSigmas: true)
    {
        _order = Config.SolverOrder ?? 2;
        // solver_order's upper bound is each sampler's own (the configuration only requires >= 1).
        if (_order > 3) throw new SchedulerConfigException("solver_order", _order.ToString(System.Globalization.CultureInfo.InvariantCulture), "1, 2 or 3 (UniPC here has updates of orders 1 to 3)");
        var solverType = Config.SolverType ?? "bh2";
        if (solverType is "midpoint" or "heun" or "logrho") solverType = "bh2";
        _bh2 = ConfigNames.RequireOneOf("solver_type", solverType, "bh1", "bh2") == "bh2";
        _predictX0 = Config.PredictX0 ?? true;
        _lowerOrderFinal = Config.LowerOrderFinal ?? true;
        _disableCorrector = Config.DisableCorrector ?? [];
        _flow = Config.UseFlowSigmas == true;
        if (Config.PredictionType == PredictionType.FlowPrediction && !_flow)
            throw new SchedulerConfigException("prediction_type", "\"flow_prediction\"", "epsilon, sample or v_prediction, or use_flow_sigmas true with flow_prediction");
        if (Config.PredictionType == PredictionType.FlowPrediction && !_predictX0)
            throw new SchedulerConfigException("predict_x0", "false", "true with prediction_type \"flow_prediction\" (the reference converts a flow velocity to x₀ only)");
        if (_flow && SigmaSpacing is SigmaSpacing.Exponential or SigmaSpacing.Beta)
            throw new SchedulerConfigException("use_flow_sigmas", "true", "false with use_exponential_sigmas or use_beta_sigmas (the reference would read their σ as flow σ)");
        var finalSigmas = ConfigNames.RequireOneOf("final_sigmas_type", Config.FinalSigmasType ?? "zero", "zero", "sigma_min");
        _finalSigmaIsZero = finalSigmas == "zero";
        if (_finalSigmaIsZero && !_predictX0)
            throw new SchedulerConfigException("final_sigmas_type", "\"zero\"",
                "\"sigma_min\" with predict_x0 false: a noise-prediction step to σ = 0 is undefined (or set predict_x0 true)");
        if (_finalSigmaIsZero && !_lowerOrderFinal && _order > 1)
            throw new SchedulerConfigException("final_sigmas_type", "\"zero\"",
                "\"sigma_min\" with lower_order_final false: a step to σ = 0 leaves no room for differences above first order (or set lower_order_final true)");
    }

    /// <inheritdoc/>
    /// <remarks>0, or with <c>sigma_min</c>: σ of training step 0 (the last σ where it lies below), and a σ spacing's
    /// last σ repeated, as the reference does.</remarks>
    protected override double FinalSigma(double lastSigma, bool spaced) =>
        _finalSigmaIsZero ? 0 : spaced ? lastSigma : Math.Min(lastSigma, Table.SigmaMin);

    /// <summary>Whether the σ are flow σ (<c>use_flow_sigmas</c>).</summary>
    protected bool UsesFlowSigmas => _flow;

    /// <summary>False with flow σ (the reference's flow schedule comes from a count or a σ list), else as the base.</summary>
    public override bool AcceptsExplicitTimesteps => !_flow && base.AcceptsExplicitTimesteps;

    /// <summary>μ for the next flow schedule with <c>use_dynamic_shifting</c> (null: none).</summary>
    protected void UseMu(double? mu)
    {
        if (mu is { } value && !double.IsFinite(value))
            throw new SchedulerConfigException("mu", value.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "a finite number");
        _mu = mu;
    }

    /// <inheritdoc/>
    protected override double[] CreateTimesteps(int numInferenceSteps) => _flow ? FlowSchedule(numInferenceSteps, null) : base.CreateTimesteps(numInferenceSteps);

    /// <summary>
    /// The reference's flow branch (<c>use_flow_sigmas</c>): with Karras σ, the Karras spacing of the VP table mapped to
    /// σ/(σ + 1); otherwise <paramref name="explicitSigmas"/> or linspace(1, 1/N, n + 1) without its last point, shifted by
    /// <c>flow_shift</c> (e^μ/(e^μ + 1/σ − 1) with <c>use_dynamic_shifting</c>), stretched to <c>shift_terminal</c>, and a
    /// first σ of 1 lowered by 10⁻⁶ (so that α = 1 − σ and its log stay finite), all in double; timesteps σ·N truncated; the final σ the
    /// last σ (<c>sigma_min</c>) or 0. Installs the σ and returns the timesteps.
    /// </summary>
    protected double[] FlowSchedule(int count, IReadOnlyList<double>? explicitSigmas)
    {
        var n = Schedule.NumTrainTimesteps;
        double[] sigmas;
        if (SigmaSpacing == SigmaSpacing.Karras && explicitSigmas is null)
        {
            sigmas = Table.Spaced(SigmaSpacing.Karras, count);
            for (var i = 0; i < sigmas.Length; i++) sigmas[i] /= sigmas[i] + 1;
        }
        else
        {
            sigmas = explicitSigmas?.ToArray() ?? TimestepSpacings.Linspace(1, 1.0 / n, count + 1)[..count];
            if (Config.UseDynamicShifting == true)
            {
                var mu = _mu ?? throw new SchedulerConfigException("mu", "(none)",
                    "a finite number given when timesteps are set: this configuration has use_dynamic_shifting (FlowShift.Mu computes μ from the image size)");
                for (var i = 0; i < sigmas.Length; i++) sigmas[i] = FlowShift.Dynamic(sigmas[i], mu, Config.TimeShiftType == "linear");
            }
            else
            {
                var shift = Config.FlowShift ?? 1.0;
                for (var i = 0; i < sigmas.Length; i++) sigmas[i] = FlowShift.Constant(sigmas[i], shift);
            }
            if (Config.ShiftTerminal is { } terminal && terminal != 0) FlowShift.StretchToTerminal(sigmas, terminal);
            if (Math.Abs(sigmas[0] - 1) < 1e-6) sigmas[0] -= 1e-6;
        }
        var timesteps = new double[sigmas.Length];
        for (var i = 0; i < timesteps.Length; i++) timesteps[i] = Math.Truncate(sigmas[i] * n);
        InstallFlowSigmas(sigmas, _finalSigmaIsZero ? 0 : sigmas[^1]);
        return timesteps;
    }

    /// <inheritdoc/>
    protected override void OnReset()
    {
        _newest = _order;
        _lowerOrderNums = 0;
        _hasLastSample = false;
    }

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        var n = input.Sample.Length;
        for (var slot = 0; slot <= _order; slot++) Buffer(slot, n); // every buffer the run needs, so no later step allocates
        if (Config.Thresholding && _predictX0) Buffer(ThresholdSlot, n / input.BatchSize);

        // 1. This step's prediction m_t at the sample as given (x₀ or ε), into the ring slot after the newest.
        var next = (_newest + 1) % (_order + 1);
        var model = Buffer(next, n);
        float alpha = Alphas[stepIndex], sigma = SigmaTs[stepIndex];
        ConvertModelOutput(input, alpha, sigma, model);
        var wrote = !output.PredictedOriginal.IsEmpty;
        if (wrote && _predictX0) model.CopyTo(output.PredictedOriginal);
        else if (wrote) PredictionMath.ToSample(PredictionType.Epsilon, model, input.Sample, alpha, sigma, output.PredictedOriginal);

        // 2. UniC: correct the sample the last step predicted, now that the model has been evaluated there.
        var sample = Buffer(LastSampleSlot, n);
        if (stepIndex > 0 && _hasLastSample && Array.IndexOf(_disableCorrector, stepIndex - 1) < 0) Update(stepIndex - 1, _lastOrder, sample, model, sample);
        else input.Sample.CopyTo(sample);
        _newest = next;

        // 3. UniP from the corrected sample, at an order limited by the history and, at the end, by the steps left.
        var order = Math.Min(_lowerOrderFinal ? Math.Min(_order, Timesteps.Count - stepIndex) : _order, _lowerOrderNums + 1);
        Update(stepIndex, order, sample, default, output.PrevSample);

        _lastOrder = order;
        _hasLastSample = true;
        if (_lowerOrderNums < _order) _lowerOrderNums++;
        return wrote;
    }

    /// <summary>
    /// One UniP (no <paramref name="model"/>) or UniC (with the model's prediction at the end point) update of order
    /// <paramref name="order"/> from step <paramref name="from"/> to the next, with m_s the newest stored prediction, in
    /// the reference's float32: α, σ_t, λ, h, r_k, the φ terms and B(h) as its 0-dimensional tensors round them, the
    /// weights by its float32 LAPACK solve (<see cref="SmallLinearSolve"/>), then one tensor operation at a time.
    /// </summary>
    private void Update(int from, int order, ReadOnlySpan<float> sample, ReadOnlySpan<float> model, Span<float> destination)
    {
        var corrector = !model.IsEmpty;
        var h = Lambdas[from + 1] - Lambdas[from];
        if (h == 0)
        {
            // A zero interval (a repeated final σ): the exact solution is the sample itself.
            if (!sample.Overlaps(destination)) sample.CopyTo(destination);
            return;
        }

        float alphaS = Alphas[from], sigmaS = SigmaTs[from], alphaT = Alphas[from + 1], sigmaT = SigmaTs[from + 1];
        var hh = _predictX0 ? -h : h;
        var phi1 = Expm1(hh); // h̄·φ₁(h̄) = e^{h̄} − 1
        var bh = _bh2 ? phi1 : hh;

        // r_k of the earlier points (order − 1 of them), then the end point r = 1.
        Span<float> r = stackalloc float[3];
        for (var k = 1; k < order; k++) r[k - 1] = (Lambdas[from - k] - Lambdas[from]) / h;
        r[order - 1] = 1;

        // The weights: ½ for a second-order predictor and a first-order corrector; otherwise the order conditions
        // R·ρ = b, R_ij = r_j^i, b_i = (i+1)!·h̄·φ_{i+2}(h̄)/B(h), solved for the predictor without the end point.
        Span<float> rho = stackalloc float[3];
        var count = corrector ? order : order - 1; // weights used (the corrector's last one is the end point's)
        if (count > 0)
        {
            if ((!corrector && order == 2) || (corrector && order == 1)) rho[0] = 0.5f;
            else
            {
                Span<float> b = stackalloc float[3];
                var phi = phi1 / hh - 1f;
                var factorial = 1;
                for (var i = 0; i < order; i++)
                {
                    b[i] = phi * factorial / bh;
                    factorial *= i + 2;
                    phi = phi / hh - (float)(1.0 / factorial);
                }
                Span<float> matrix = stackalloc float[9];
                for (var i = 0; i < count; i++)
                    for (var j = 0; j < count; j++) matrix[i * count + j] = i == 0 ? 1 : i == 1 ? r[j] : r[j] * r[j];
                // The predictor's matrix is a slice of R (not contiguous in the reference), the corrector's all of R.
                SmallLinearSolve.Solve(matrix[..(count * count)], b[..count], transposed: corrector);
                b[..count].CopyTo(rho);
            }
        }

        // x_t = c_x·x − c₀·m_s − s·(Σ_k ρ_k·(m_k − m_s)/r_k [+ ρ_end·(m_t − m_s)]).
        float cx, c0, scale;
        if (_predictX0) (cx, c0, scale) = (sigmaT / sigmaS, alphaT * phi1, alphaT * bh);
        else (cx, c0, scale) = (alphaT / alphaS, sigmaT * phi1, sigmaT * bh);
        var ms = History(0, sample.Length);
        var differences = corrector ? order - 1 : count;
        ReadOnlySpan<float> m1 = differences > 0 ? History(1, sample.Length) : default;
        ReadOnlySpan<float> m2 = differences > 1 ? History(2, sample.Length) : default;
        var predictor = new PredictorUpdate(cx, c0, scale, r[0], r[1], rho[0], rho[1]);
        var correctorUpdate = new CorrectorUpdate(predictor, rho[differences]);
        switch (differences, corrector)
        {
            case (0, false): PredictionMath.Combine(cx, sample, -c0, ms, destination); break;
            case (0, true): ElementWise.Apply(correctorUpdate, sample, ms, model, destination); break;
            case (1, false): ElementWise.Apply(predictor, sample, ms, m1, destination); break;
            case (1, true): ElementWise.Apply(correctorUpdate, sample, ms, m1, model, destination); break;
            case (2, false): ElementWise.Apply(predictor, sample, ms, m1, m2, destination); break;
            default: ElementWise.Apply(correctorUpdate, sample, ms, m1, m2, model, destination); break;
        }
    }

    // The predictor, x_t = (c_x·x − c₀·m_s) − s·Σ_k ρ_k·((m_k − m_s)/r_k), rounded after every operation in the
    // reference's order (its einsum adds the products in k order).
    private readonly record struct PredictorUpdate(float Cx, float C0, float Scale, float R0, float R1, float Rho0, float Rho1)
        : ElementWise.IOperator3, ElementWise.IOperator4
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Base<T>(T x, T ms) where T : struct, IFloatVector<T> => x * Cx - ms * C0;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Sum<T>(T ms, T m1) where T : struct, IFloatVector<T> => (m1 - ms) / R0 * Rho0;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Sum<T>(T ms, T m1, T m2) where T : struct, IFloatVector<T> => (m1 - ms) / R0 * Rho0 + (m2 - ms) / R1 * Rho1;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T ms, T m1) where T : struct, IFloatVector<T> => Base(x, ms) - Sum(ms, m1) * Scale;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T ms, T m1, T m2) where T : struct, IFloatVector<T> => Base(x, ms) - Sum(ms, m1, m2) * Scale;
    }

    // The corrector, x_t = (c_x·x − c₀·m_s) − s·(Σ_k ρ_k·((m_k − m_s)/r_k) + ρ_end·(m_t − m_s)), m_t the model's
    // prediction at the end point, rounded in the reference's order.
    private readonly record struct CorrectorUpdate(PredictorUpdate P, float RhoEnd) : ElementWise.IOperator3, ElementWise.IOperator4, ElementWise.IOperator5
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T ms, T mt) where T : struct, IFloatVector<T> => P.Base(x, ms) - (mt - ms) * RhoEnd * P.Scale;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T ms, T m1, T mt) where T : struct, IFloatVector<T> =>
            P.Base(x, ms) - (P.Sum(ms, m1) + (mt - ms) * RhoEnd) * P.Scale;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T ms, T m1, T m2, T mt) where T : struct, IFloatVector<T> =>
            P.Base(x, ms) - (P.Sum(ms, m1, m2) + (mt - ms) * RhoEnd) * P.Scale;
    }

    // e^x − 1 of a float32 argument, correctly rounded to float32 (through double, exact enough for the |h̄| ≥ 10⁻⁴ of
    // a schedule's steps), as torch's float32 expm1 gives it.
    private static float Expm1(float x) => (float)(Math.Abs(x) < 1e-5 ? x + 0.5 * (double)x * x : Math.Exp(x) - 1);

    /// <summary>The stored prediction <paramref name="age"/> steps back (0 = the newest).</summary>
    private Span<float> History(int age, int length) => Buffer((_newest - age + _order + 1) % (_order + 1), length);

    private void ConvertModelOutput(in StepInput input, float alpha, float sigma, Span<float> destination) =>
        ConvertModelOutput(input, _predictX0, alpha, sigma, destination, ThresholdSlot);
}
