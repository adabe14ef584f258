using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.DpmSolver;

/// <summary>
/// SA-Solver: a stochastic Adams predictor–corrector for the diffusion SDE written in λ = log(α_t/σ_t) ("SA-Solver:
/// Stochastic Adams Solver for Fast Sampling of Diffusion Models", Xue et al. 2023, https://arxiv.org/abs/2309.05019).
/// The SDE family dx = [f − (1 + τ²)/2·g²·∇log p]dt + τ·g·dw is the probability-flow ODE at τ = 0 and the reverse SDE at
/// τ = 1; its linear part is solved exactly, the data prediction x_θ (or the noise prediction ε_θ) is replaced by the
/// Lagrange polynomial in λ through the last predictions, and the variance of the noise is exact. With h = λ_t − λ_s the
/// data-prediction step is
/// <code>x_t = e^{−τ²h}·(σ_t/σ_s)·x_s + (1 + τ²)·σ_t·e^{−τ²λ_t}·Σ_j b_j·x_θ,j + σ_t·√(1 − e^{−2τ²h})·z</code>
/// with b_j = ∫_{λ_s}^{λ_t} e^{(1+τ²)λ}·ℓ_j(λ) dλ, ℓ_j the Lagrange basis polynomial of node j. The
/// predictor (stochastic Adams–Bashforth) takes its nodes at the step's start and before; each step after the first begins
/// with the corrector (stochastic Adams–Moulton), which redoes the previous step with the model's prediction at its end
/// among the nodes and the same noise z, so the network is evaluated once per step.
/// </summary>
/// <remarks>
/// <para>
/// Defaults as the reference (SASolverScheduler): <c>predictor_order</c> 2, <c>corrector_order</c> 2, <c>algorithm_type</c>
/// data_prediction, <c>lower_order_final</c> true, <c>timestep_spacing</c> linspace, <c>lambda_min_clipped</c> −∞, τ(t) = 1
/// for 200 ≤ t ≤ 800 and 0 elsewhere (t the step's timestep). Timesteps and σ as DPM-Solver multistep's, but the σ after the
/// last step is σ of training step 0 (with Karras, exponential or beta σ, or flow σ: the last σ repeated, so the last step
/// returns its corrected input). One standard-normal tensor is drawn every step, after the corrector: it serves this step's
/// predictor and is kept for the next step's corrector. Orders: predictor min(predictor_order, steps left, steps done + 1),
/// corrector min(corrector_order, steps left + 1, steps done + 2), the steps-left limits only with <c>lower_order_final</c>.
/// Add-noise uses the training ᾱ at the (integer) timestep, flow σ or not, as the reference's does.
/// </para>
/// <para>
/// The arithmetic is the reference's float32, operation for operation: α, σ_t and λ of each σ
/// (<see cref="VpFloat32"/>), the closed-form integrals of x^k·e^{±x} and the expanded Lagrange coefficients as its
/// 0-dimensional tensors round them (torch's float32 exp, x² as x·x, x³ as x·x·x), and the tensor sums in its order. The
/// integrals are taken between absolute λ, so they cancel heavily on short steps: a double-precision version differs from
/// the reference by far more than float32 rounding there.
/// </para>
/// <para>
/// Where this differs from the reference, on purpose: the DPM-Solver names of <c>algorithm_type</c> (dpmsolver++,
/// sde-dpmsolver++, deis; dpmsolver, sde-dpmsolver) read as data_prediction and noise_prediction, so that a model's DPM-Solver
/// configuration runs here (the reference refuses them); thresholding with noise_prediction is refused (the reference's
/// fails); explicit timestep and σ lists are accepted (σ interpolated at the timesteps, the final σ that of training step
/// 0), and <c>sigma_min</c>/<c>sigma_max</c> bound the σ spacings, as in DEIS and UniPC (the reference's class has neither).
/// </para>
/// </remarks>
public sealed class SaSolverSampler : SigmaTableSamplerBase
{
    // Buffer slots: converted predictions in a ring of up to five (0–4), then the corrected sample the predictor started
    // from, the noise it drew, the order-4 sum and thresholding scratch.
    private const int LastSampleSlot = 5, NoiseSlot = 6, SumSlot = 7, ThresholdSlot = 8;

    private readonly int _predictorOrder, _correctorOrder, _history, _ring;
    private readonly bool _dataPrediction, _lowerOrderFinal, _flow;
    private readonly Func<double, double> _tau;
    private readonly float[] _alphasCumprod;
    private int _newest, _lowerOrderNums, _nextCorrectorOrder;
    private bool _hasLastSample;

    /// <summary>Creates the sampler with the reference's τ; throws <see cref="SchedulerConfigException"/> naming the key for an invalid or undefined configuration.</summary>
    public SaSolverSampler(SchedulerConfig config) : this(config, DefaultTau)
    {
    }

    /// <summary>
    /// Creates the sampler with the stochasticity τ(t) of each step's timestep t (the reference's <c>tau_func</c>): 0 makes
    /// the steps solve the probability-flow ODE, 1 the reverse SDE. Its values enter the float32 coefficients as
    /// (float)(1 + τ²) and the like, exactly for the reference's integer τ.
    /// </summary>
    public SaSolverSampler(SchedulerConfig config, Func<double, double> tau) : base(SamplerNames.SaSolver, config, offersFlowSigmas: true)
    {
        ArgumentNullException.ThrowIfNull(tau);
        _tau = tau;
        _predictorOrder = Config.PredictorOrder ?? 2;
        _correctorOrder = Config.CorrectorOrder ?? 2;
        // The reference keeps max(predictor_order, corrector_order − 1) earlier predictions; with this step's, one more.
        _history = Math.Max(_predictorOrder, _correctorOrder - 1);
        _ring = _history + 1;

        var algorithm = Config.AlgorithmType ?? "data_prediction";
        algorithm = algorithm switch
        {
            "dpmsolver++" or "sde-dpmsolver++" or "deis" => "data_prediction",
            "dpmsolver" or "sde-dpmsolver" => "noise_prediction",
            _ => algorithm,
        };
        _dataPrediction = ConfigNames.RequireOneOf("algorithm_type", algorithm, "data_prediction", "noise_prediction") == "data_prediction";
        _lowerOrderFinal = Config.LowerOrderFinal ?? true;
        _flow = Config.UseFlowSigmas == true;

        if (Config.PredictionType == PredictionType.FlowPrediction && !_flow)
            throw new SchedulerConfigException("prediction_type", "\"flow_prediction\"", "epsilon, sample or v_prediction, or use_flow_sigmas true with flow_prediction");
        if (Config.PredictionType == PredictionType.FlowPrediction && !_dataPrediction)
            throw new SchedulerConfigException("algorithm_type", ConfigNames.Quote(algorithm), "data_prediction with prediction_type \"flow_prediction\" (the reference converts a flow velocity to x₀ only)");
        if (_flow && SigmaSpacing != SigmaSpacing.Timesteps)
            throw new SchedulerConfigException("use_flow_sigmas", "true", "false with use_karras_sigmas, use_exponential_sigmas or use_beta_sigmas (one noise-level spacing at a time)");
        if (Config.Thresholding && !_dataPrediction)
            throw new SchedulerConfigException("thresholding", "true", "false with algorithm_type \"noise_prediction\" (the reference's thresholding fails there; data_prediction thresholds x₀)");

        var alphasCumprod = Float32Schedule.AlphasCumprod(Config);
        _alphasCumprod = new float[alphasCumprod.Length];
        for (var t = 0; t < alphasCumprod.Length; t++) _alphasCumprod[t] = (float)alphasCumprod[t];
    }

    /// <summary>The reference's default stochasticity: τ = 1 for 200 ≤ t ≤ 800, else 0 (t in training timesteps, whatever their count).</summary>
    public static double DefaultTau(double timestep) => timestep is >= 200 and <= 800 ? 1 : 0;

    /// <inheritdoc/>
    /// <remarks>σ of training step 0 after a timestep schedule or σ list, the last σ repeated after a σ spacing.</remarks>
    protected override double FinalSigma(double lastSigma, bool spaced) => spaced ? lastSigma : Math.Min(lastSigma, Table.SigmaMin);

    /// <summary>False with flow σ or a σ spacing (the schedule comes from the count), else true (an SDK extension).</summary>
    public override bool AcceptsExplicitTimesteps => !_flow && base.AcceptsExplicitTimesteps;

    /// <inheritdoc/>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        if (_flow)
        {
            // Flow σ as the reference's DPM-Solver family spaces them; timesteps σ·N truncated; the last σ repeated.
            var count = Schedule.NumTrainTimesteps;
            var sigmas = FlowShift.SolverFlowSigmas(numInferenceSteps, count, Config.FlowShift ?? 1.0);
            InstallFlowSigmas(sigmas, sigmas[^1]);
            return Array.ConvertAll(sigmas, s => Math.Truncate(s * count));
        }
        if (SigmaSpacing != SigmaSpacing.Timesteps || Config.LambdaMinClipped is not { } clip) return base.CreateTimesteps(numInferenceSteps);

        // lambda_min_clipped leaves out the noisiest timesteps (the cosine schedule's λ plunges there); σ at the rest.
        var timesteps = IntegerTimestepSigmas.SpacedTimesteps(Config.TimestepSpacing ?? TimestepSpacing.Linspace, Schedule.NumTrainTimesteps,
            numInferenceSteps, Config.StepsOffset, Table.UnclippedCount(clip));
        return base.UseExplicitTimesteps(timesteps);
    }

    /// <summary>
    /// The reference's add-noise: √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε with the training ᾱ in float32 at each (integer) timestep, which
    /// holds for timesteps off the schedule too (and, as in the reference, ignores flow σ).
    /// </summary>
    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        var itemLength = CheckAddNoise(original, noise, timesteps, destination);
        for (var b = 0; b < timesteps.Length; b++)
        {
            var alphaBar = _alphasCumprod[TrainingIndex(timesteps[b])];
            var range = new Range(b * itemLength, (b + 1) * itemLength);
            PredictionMath.Combine(MathF.Sqrt(alphaBar), original[range], MathF.Sqrt(1 - alphaBar), noise[range], destination[range]);
        }
    }

    /// <inheritdoc/>
    protected override void OnReset()
    {
        _newest = _ring - 1;
        _lowerOrderNums = 0;
        _nextCorrectorOrder = 0;
        _hasLastSample = false;
    }

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        var n = input.Sample.Length;
        // Every buffer the run needs, taken now so that no later step allocates (higher orders start later).
        for (var slot = 0; slot < _ring; slot++) Buffer(slot, n);
        var sample = Buffer(LastSampleSlot, n);
        var z = Buffer(NoiseSlot, n);
        if (_predictorOrder == 4 || _correctorOrder == 4) Buffer(SumSlot, n);
        if (Config.Thresholding) Buffer(ThresholdSlot, n / input.BatchSize);

        // 1. This step's prediction (x₀ or ε) at the sample as given, into the ring slot after the newest.
        _newest = (_newest + 1) % _ring;
        var model = Buffer(_newest, n);
        float alpha = Alphas[stepIndex], sigma = SigmaTs[stepIndex];
        ConvertModelOutput(input, alpha, sigma, model);
        var wrote = !output.PredictedOriginal.IsEmpty;
        if (wrote && _dataPrediction) model.CopyTo(output.PredictedOriginal);
        else if (wrote) PredictionMath.ToSample(PredictionType.Epsilon, model, input.Sample, alpha, sigma, output.PredictedOriginal);

        // 2. The corrector: the previous step again, from its starting sample with its noise, now that the model has been
        //    evaluated at its end. The sample given here is replaced (it only entered the conversion above).
        if (stepIndex > 0 && _hasLastSample)
            Update(stepIndex - 1, _nextCorrectorOrder, corrector: true, _tau(Timesteps[stepIndex - 1]), sample, z, sample);
        else input.Sample.CopyTo(sample);

        // 3. This step's noise, kept for the next step's corrector; the orders of this predictor and of that corrector.
        noise.NextGaussian(z);
        var left = Timesteps.Count - stepIndex;
        var predictorOrder = Math.Min(_lowerOrderFinal ? Math.Min(_predictorOrder, left) : _predictorOrder, _lowerOrderNums + 1);
        _nextCorrectorOrder = Math.Min(_lowerOrderFinal ? Math.Min(_correctorOrder, left + 1) : _correctorOrder, _lowerOrderNums + 2);

        // 4. The predictor from the corrected sample.
        Update(stepIndex, predictorOrder, corrector: false, _tau(Timesteps[stepIndex]), sample, z, output.PrevSample);

        _hasLastSample = true;
        if (_lowerOrderNums < _history) _lowerOrderNums++;
        return wrote;
    }

    /// <summary>
    /// One stochastic Adams step of <paramref name="order"/> over the interval from σ index <paramref name="from"/> to the
    /// next: x_t = c_x·x + Σ_j a_j·m_j + c_z·z, m_j the prediction j steps back from the newest. The nodes of the
    /// Lagrange polynomial are the λ of the newest prediction and those before it: the interval's start (predictor) or
    /// its end (corrector).
    /// </summary>
    private void Update(int from, int order, bool corrector, double tau, ReadOnlySpan<float> x, ReadOnlySpan<float> z, Span<float> destination)
    {
        // The reference's τ is a Python number: (1 + τ²), τ² and the like meet its float32 tensors as float32 values.
        var tauSquared = tau * tau;
        float k = (float)(1 + tauSquared), negTauSquared = (float)-tauSquared, t = (float)tau;
        float alphaS = Alphas[from], sigmaS = SigmaTs[from], lambdaS = Lambdas[from];
        float alphaT = Alphas[from + 1], sigmaT = SigmaTs[from + 1], lambdaT = Lambdas[from + 1];
        var h = lambdaT - lambdaS;

        var newest = corrector ? from + 1 : from;
        Span<float> nodes = stackalloc float[4];
        for (var j = 0; j < order; j++) nodes[j] = Lambdas[newest - j];
        Span<float> b = stackalloc float[4];
        GradientCoefficients(order, lambdaS, lambdaT, nodes[..order], tau, b);

        if (_dataPrediction && order == 2)
        {
            // The reference's second-order adjustment "similar to UniPC" (it keeps the convergence order and helps at few
            // steps): a multiple of the divided difference of the two predictions, added to b_0 and taken from b_1.
            var hk = h * k - 1f + ReferenceFloat32.TorchExp(k * -h);
            var adjustment = corrector
                ? 1f * ReferenceFloat32.TorchExp(k * lambdaT) * (h / 2f - hk / ((float)((1 + tauSquared) * (1 + tauSquared)) * h))
                : 1f * ReferenceFloat32.TorchExp(k * lambdaT) * (h * h / 2f - hk / (float)((1 + tauSquared) * (1 + tauSquared))) / (lambdaS - Lambdas[from - 1]);
            b[0] += adjustment;
            b[1] -= adjustment;
        }

        float cx, cz;
        Span<float> a = stackalloc float[4];
        if (_dataPrediction)
        {
            var scale = k * sigmaT * ReferenceFloat32.TorchExp(negTauSquared * lambdaT);
            for (var j = 0; j < order; j++) a[j] = scale * b[j];
            cz = sigmaT * MathF.Sqrt(1f - ReferenceFloat32.TorchExp((float)(-2 * tauSquared) * h));
            cx = ReferenceFloat32.TorchExp(negTauSquared * h) * (sigmaT / sigmaS);
        }
        else
        {
            var scale = -k * alphaT;
            for (var j = 0; j < order; j++) a[j] = scale * b[j];
            cz = t * sigmaT * MathF.Sqrt(ReferenceFloat32.TorchExp(2f * h) - 1f);
            cx = alphaT / alphaS;
        }

        var n = x.Length;
        switch (order)
        {
            case 1:
                PredictionMath.Combine(cx, x, a[0], History(0, n), cz, z, destination);
                break;
            case 2:
                ElementWise.Apply(new AdamsUpdate(cx, a[0], a[1], 0, cz), x, History(0, n), History(1, n), z, destination);
                break;
            case 3:
                ElementWise.Apply(new AdamsUpdate(cx, a[0], a[1], a[2], cz), x, History(0, n), History(1, n), History(2, n), z, destination);
                break;
            default:
                // Six tensors: the sum first (the reference accumulates it before adding c_x·x), then the rest.
                var sum = Buffer(SumSlot, n);
                ElementWise.Apply(new FourTermSum(a[0], a[1], a[2], a[3]), History(0, n), History(1, n), History(2, n), History(3, n), sum);
                PredictionMath.Combine(cx, x, 1f, sum, cz, z, destination);
                break;
        }
    }

    /// <summary>
    /// b_j = Σ_i c_{j,i}·∫_{λ_s}^{λ_t} E(λ)·λ^{order−1−i} dλ with c the expanded Lagrange coefficients of the nodes and E
    /// the exponential weight: e^{(1+τ²)λ} for data prediction, e^{−λ} for noise prediction (the reference's
    /// get_coefficients_fn, summed in its order).
    /// </summary>
    private void GradientCoefficients(int order, float lambdaS, float lambdaT, ReadOnlySpan<float> nodes, double tau, Span<float> b)
    {
        Span<float> lagrange = stackalloc float[16];
        LagrangeCoefficients(nodes, lagrange);
        Span<float> integrals = stackalloc float[4];
        for (var i = 0; i < order; i++)
            integrals[i] = _dataPrediction ? PositiveExponentialIntegral(order - 1 - i, lambdaS, lambdaT, tau) : NegativeExponentialIntegral(order - 1 - i, lambdaS, lambdaT);
        for (var j = 0; j < order; j++)
        {
            var sum = 0f;
            for (var i = 0; i < order; i++) sum += lagrange[j * 4 + i] * integrals[i];
            b[j] = sum;
        }
    }

    /// <summary>
    /// The coefficients of the Lagrange basis polynomials ℓ_j(λ) = Σ_i c_{j,i}·λ^{m−i} of the m + 1 nodes (m ≤ 3), highest
    /// power first, into row j of a 4×4 layout, formed as the reference forms them from its float32 λ.
    /// </summary>
    private static void LagrangeCoefficients(ReadOnlySpan<float> l, Span<float> c)
    {
        switch (l.Length)
        {
            case 1:
                c[0] = 1;
                break;
            case 2:
                c[0] = 1f / (l[0] - l[1]);
                c[1] = -l[1] / (l[0] - l[1]);
                c[4] = 1f / (l[1] - l[0]);
                c[5] = -l[0] / (l[1] - l[0]);
                break;
            case 3:
                for (var j = 0; j < 3; j++)
                {
                    // The other two nodes, in the reference's order.
                    int p = j == 0 ? 1 : 0, q = j == 2 ? 1 : 2;
                    var denominator = (l[j] - l[p]) * (l[j] - l[q]);
                    c[j * 4] = 1f / denominator;
                    c[j * 4 + 1] = (-l[p] - l[q]) / denominator;
                    c[j * 4 + 2] = l[p] * l[q] / denominator;
                }
                break;
            default:
                for (var j = 0; j < 4; j++)
                {
                    // The other three nodes, ascending, as the reference lists them.
                    int p = j == 0 ? 1 : 0, q = j <= 1 ? 2 : 1, r = j == 3 ? 2 : 3;
                    var denominator = (l[j] - l[p]) * (l[j] - l[q]) * (l[j] - l[r]);
                    c[j * 4] = 1f / denominator;
                    c[j * 4 + 1] = (-l[p] - l[q] - l[r]) / denominator;
                    c[j * 4 + 2] = (l[p] * l[q] + l[p] * l[r] + l[q] * l[r]) / denominator;
                    c[j * 4 + 3] = -l[p] * l[q] * l[r] / denominator;
                }
                break;
        }
    }

    /// <summary>
    /// ∫_s^e e^{(1+τ²)x}·x^m dx in closed form (the reference's get_coefficients_exponential_positive), with u = (1+τ²)x:
    /// e^{u_e}·(P(u_e) − P(u_s)·e^{−(u_e − u_s)})/(1+τ²)^{m+1}, P the degree-m polynomial of the antiderivative.
    /// </summary>
    private static float PositiveExponentialIntegral(int m, float s, float e, double tau)
    {
        var k = 1 + tau * tau;
        float ke = (float)k * e, ks = (float)k * s;
        var decay = ReferenceFloat32.TorchExp(-(ke - ks));
        var grow = ReferenceFloat32.TorchExp(ke);
        return m switch
        {
            0 => grow * (1f - decay) / (float)k,
            1 => grow * ((ke - 1f) - (ks - 1f) * decay) / (float)(k * k),
            2 => grow * ((ke * ke - 2f * ke + 2f) - (ks * ks - 2f * ks + 2f) * decay) / (float)(k * k * k),
            _ => grow * ((ke * ke * ke - 3f * (ke * ke) + 6f * ke - 6f) - (ks * ks * ks - 3f * (ks * ks) + 6f * ks - 6f) * decay) / (float)(k * k * k * k),
        };
    }

    /// <summary>∫_s^e e^{−x}·x^m dx in closed form (the reference's get_coefficients_exponential_negative).</summary>
    private static float NegativeExponentialIntegral(int m, float s, float e)
    {
        var shrink = ReferenceFloat32.TorchExp(-e);
        var grow = ReferenceFloat32.TorchExp(e - s);
        return m switch
        {
            0 => shrink * (grow - 1f),
            1 => shrink * ((s + 1f) * grow - (e + 1f)),
            2 => shrink * ((s * s + 2f * s + 2f) * grow - (e * e + 2f * e + 2f)),
            _ => shrink * ((s * s * s + 3f * (s * s) + 6f * s + 6f) * grow - (e * e * e + 3f * (e * e) + 6f * e + 6f)),
        };
    }

    /// <summary>The stored prediction <paramref name="age"/> steps back (0 = this step's).</summary>
    private Span<float> History(int age, int length) => Buffer((_newest - age + _ring) % _ring, length);

    private void ConvertModelOutput(in StepInput input, float alpha, float sigma, Span<float> destination) =>
        ConvertModelOutput(input, _dataPrediction, alpha, sigma, destination, ThresholdSlot);

    // x_t = (c_x·x + Σ_j a_j·m_j) + c_z·z for two or three predictions, the sum accumulated from m_0 as the reference's
    // gradient_part is, each product and sum rounded to float32.
    private readonly record struct AdamsUpdate(float Cx, float A0, float A1, float A2, float Cz) : ElementWise.IOperator4, ElementWise.IOperator5
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T m0, T m1, T z) where T : struct, IFloatVector<T> => x * Cx + (m0 * A0 + m1 * A1) + z * Cz;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T m0, T m1, T m2, T z) where T : struct, IFloatVector<T> => x * Cx + (m0 * A0 + m1 * A1 + m2 * A2) + z * Cz;
    }

    // Σ_j a_j·m_j of four predictions, accumulated from m_0.
    private readonly record struct FourTermSum(float A0, float A1, float A2, float A3) : ElementWise.IOperator4
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T m0, T m1, T m2, T m3) where T : struct, IFloatVector<T> => m0 * A0 + m1 * A1 + m2 * A2 + m3 * A3;
    }
}
