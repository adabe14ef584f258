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
public sealed class UniPcSampler : SigmaTableSamplerBase
{
    // Buffer slots: predictions in a ring of order + 1 slots (0–3), then the corrected sample and thresholding scratch.
    private const int LastSampleSlot = 4, ThresholdSlot = 5;

    private readonly int _order;
    private readonly bool _predictX0, _bh2, _lowerOrderFinal, _finalSigmaIsZero;
    private readonly int[] _disableCorrector;
    private int _newest, _lowerOrderNums, _lastOrder;
    private bool _hasLastSample;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> naming the key for an invalid or undefined configuration.</summary>
    public UniPcSampler(SchedulerConfig config) : base(SamplerNames.UniPc, config)
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
        var (alpha, sigma) = IntegerTimestepSigmas.AlphaSigma(Sigmas[stepIndex]);
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
    /// <paramref name="order"/> from step <paramref name="from"/> to the next, with m_s the newest stored prediction.
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

        var (alphaS, sigmaS) = IntegerTimestepSigmas.AlphaSigma(Sigmas[from]);
        var (alphaT, sigmaT) = IntegerTimestepSigmas.AlphaSigma(Sigmas[from + 1]);
        var hh = _predictX0 ? -h : h;
        var phi1 = Math.Exp(hh) - 1; // h̄·φ₁(h̄) = e^{h̄} − 1
        double cx, c0, scale;
        if (_predictX0) (cx, c0, scale) = (sigmaT / sigmaS, -alphaT * phi1, -alphaT);
        else (cx, c0, scale) = (alphaT / alphaS, -sigmaT * phi1, -sigmaT);
        scale *= _bh2 ? phi1 : hh;

        // r_k of the earlier points (the predictor's order − 1 of them, the corrector's as many plus the end point r = 1).
        var count = corrector ? order : order - 1;
        Span<double> r = stackalloc double[3];
        for (var k = 1; k < order; k++) r[k - 1] = (Lambdas[from - k] - Lambdas[from]) / h;
        if (corrector) r[order - 1] = 1;
        Span<double> a = stackalloc double[3];
        Weights(r[..count], hh, phi1, a);

        // x_t = c_x·x + c_0·m_s + Σ_k (scale·a_k/r_k)·(m_k − m_s), as one combination of the stored tensors.
        Span<double> w = stackalloc double[3];
        var cs = c0;
        for (var k = 0; k < count; k++)
        {
            w[k] = scale * a[k] / r[k];
            cs -= w[k];
        }
        var ms = History(0, sample.Length);
        ReadOnlySpan<float> m1 = count > 0 ? (corrector && order == 1 ? model : History(1, sample.Length)) : default;
        ReadOnlySpan<float> m2 = count > 1 ? (corrector && order == 2 ? model : History(2, sample.Length)) : default;
        ReadOnlySpan<float> m3 = count > 2 ? model : default;
        switch (count)
        {
            case 0: PredictionMath.Combine((float)cx, sample, (float)cs, ms, destination); break;
            case 1: PredictionMath.Combine((float)cx, sample, (float)cs, ms, (float)w[0], m1, destination); break;
            case 2: PredictionMath.Combine((float)cx, sample, (float)cs, ms, (float)w[0], m1, (float)w[1], m2, destination); break;
            default: PredictionMath.Combine((float)cx, sample, (float)cs, ms, (float)w[0], m1, (float)w[1], m2, (float)w[2], m3, destination); break;
        }
    }

    /// <summary>
    /// The weights a of the differences: ½ for a single one (a second-order predictor, a first-order corrector, as the
    /// paper's code), otherwise the solution of Σ_j r_j^{i−1}·a_j = b_i, i = 1 … K, with b_i = i!·h̄·φ_{i+1}(h̄)/B(h).
    /// </summary>
    private void Weights(ReadOnlySpan<double> r, double hh, double phi1, Span<double> a)
    {
        var count = r.Length;
        if (count == 0) return;
        if (count == 1)
        {
            a[0] = 0.5;
            return;
        }
        // h̄·φ_{k+1}(h̄) by φ_{k+1}(z)·z = φ_k(z) − 1/k!, from h̄·φ₁ = e^{h̄} − 1.
        var bh = _bh2 ? phi1 : hh;
        Span<double> b = stackalloc double[3];
        double phi = phi1 / hh - 1, factorial = 1;
        for (var i = 1; i <= count; i++)
        {
            b[i - 1] = phi * factorial / bh;
            factorial *= i + 1;
            phi = phi / hh - 1 / factorial;
        }
        if (count == 2)
        {
            // [1 1; r0 r1]·a = b
            var det = r[1] - r[0];
            a[0] = (b[0] * r[1] - b[1]) / det;
            a[1] = (b[1] - b[0] * r[0]) / det;
            return;
        }
        // [1 1 1; r0 r1 r2; r0² r1² r2²]·a = b by Cramer's rule (a Vandermonde system).
        double r0 = r[0], r1 = r[1], r2 = r[2];
        var d = Det(1, 1, 1, r0, r1, r2, r0 * r0, r1 * r1, r2 * r2);
        a[0] = Det(b[0], 1, 1, b[1], r1, r2, b[2], r1 * r1, r2 * r2) / d;
        a[1] = Det(1, b[0], 1, r0, b[1], r2, r0 * r0, b[2], r2 * r2) / d;
        a[2] = Det(1, 1, b[0], r0, r1, b[1], r0 * r0, r1 * r1, b[2]) / d;
    }

    private static double Det(double a, double b, double c, double d, double e, double f, double g, double h, double i) =>
        a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);

    /// <summary>The stored prediction <paramref name="age"/> steps back (0 = the newest).</summary>
    private Span<float> History(int age, int length) => Buffer((_newest - age + _order + 1) % (_order + 1), length);

    /// <summary>The reference's <c>convert_model_output</c>: x₀ (thresholded if asked) with <c>predict_x0</c>, else ε.</summary>
    private void ConvertModelOutput(in StepInput input, double alpha, double sigma, Span<float> destination)
    {
        if (!_predictX0)
        {
            PredictionMath.ToEpsilon(Config.PredictionType, input.ModelOutput, input.Sample, alpha, sigma, destination);
            return;
        }
        PredictionMath.ToSample(Config.PredictionType, input.ModelOutput, input.Sample, alpha, sigma, destination);
        if (Config.Thresholding)
            SampleThresholding.Dynamic(destination, input.BatchSize, Config.DynamicThresholdingRatio, Config.SampleMaxValue,
                Buffer(ThresholdSlot, destination.Length / input.BatchSize));
    }
}
