using System.Globalization;
using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.DpmSolver;

/// <summary>
/// Single-step DPM-Solver: the exponential integrators of <see cref="DpmSolverSampler"/> in their original, single-step
/// form ("DPM-Solver", Lu et al. 2022, https://arxiv.org/abs/2206.00927, Algorithms 1 and 2, DPM-Solver-2 and -3;
/// "DPM-Solver++", Lu et al. 2022, https://arxiv.org/abs/2211.01095, Algorithm 1, DPM-Solver++(2S)). The timesteps
/// are grouped in cycles of 1 … <c>solver_order</c> steps; the network is evaluated at every timestep of a cycle, and each
/// step of order k integrates from the cycle's first sample x_s with the k predictions of the cycle so far, the
/// intermediate timesteps standing for the paper's s + r·h points. With h = λ_t − λ_s, D0 the cycle's first prediction
/// and r_j = (λ_{s_j} − λ_s)/h, the updates are x_t = (σ_t/σ_s)·x_s − α_t·(e^{−h} − 1)·D0 + (higher-order terms in
/// the divided differences of the predictions) for <c>dpmsolver++</c>, and x_t = (α_t/α_s)·x_s − σ_t·(e^{h} − 1)·D0 + …
/// for <c>dpmsolver</c> (noise prediction); <c>sde-dpmsolver++</c> integrates the reverse SDE and adds fresh noise.
/// </summary>
/// <remarks>
/// <para>
/// Defaults as the reference (DPMSolverSinglestepScheduler): <c>solver_order</c> 2, <c>algorithm_type</c> dpmsolver++,
/// <c>solver_type</c> midpoint, <c>lower_order_final</c> false, <c>final_sigmas_type</c> zero, <c>lambda_min_clipped</c>
/// −∞. As in the reference: timesteps are spaced like <c>linspace</c> over the training steps whose λ is at least
/// <c>lambda_min_clipped</c>; <c>lower_order_final</c> is turned on when <c>final_sigmas_type</c> is zero or the step count
/// is not a multiple of the order, and the step to σ = 0 is first order; with Karras σ the timesteps are the rounded,
/// with exponential or Beta σ the truncated, training timesteps of each σ (so one may repeat), and the σ range is the
/// whole training table's; <c>deis</c> and <c>logrho</c>/<c>bh1</c>/<c>bh2</c> read as <c>dpmsolver++</c> and
/// <c>midpoint</c>; <c>timestep_spacing</c>, <c>steps_offset</c>, <c>rescale_betas_zero_snr</c>, <c>sigma_min</c> and
/// <c>sigma_max</c> are not keys of this method and have no effect.
/// </para>
/// <para>
/// Where this differs from the reference, on purpose: <c>lower_order_final</c> is decided afresh for every schedule (the
/// reference keeps it on once it has turned it on); thresholding with <c>dpmsolver</c> converts ε through the x₀ of the
/// step's σ (the reference's conversion fails); <see cref="AddNoise"/> off the schedule uses the training σ.
/// </para>
/// </remarks>
public class DpmSolverSinglestepSampler : SamplerBase, ISigmaSampler
{
    // Slots 0 … order−1 hold the ring of predictions; then the cycle's first sample and scratch.
    private const int CycleSampleSlot = 3, NoiseSlot = 4, ThresholdSlot = 5, X0Slot = 6;

    private readonly int _order;
    private readonly bool _dataPrediction, _sde, _heun, _finalSigmaIsZero, _lowerOrderFinal;
    private readonly string _spacing;
    private readonly double _lambdaMinClipped;
    // The training table as the reference holds it: float32 σ, numpy's float32 log σ (σ → timestep), torch's float32 λ.
    private readonly double[] _trainSigmas, _trainIndices;
    private readonly float[] _logTrainSigmas, _trainLambdas;
    // The step σ table (float32 values) and each entry's α, σ_t and λ in float32 (VpFloat32).
    private double[] _sigmas = [];
    private float[] _sigmas32 = [], _alphas = [], _sigmaTs = [], _lambdas = [];
    private int[] _orders = [];
    private int _newest, _filled;
    // use_flow_sigmas: flow σ (α = 1 − σ) spaced as the DPM-Solver family's flow schedule; μ with use_dynamic_shifting.
    private readonly bool _flow;
    private double? _mu;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> naming the key for an invalid or undefined configuration.</summary>
    public DpmSolverSinglestepSampler(SchedulerConfig config) : base(SamplerNames.DpmSolverSinglestep, config, offersFlowSigmas: true)
    {
        _order = Config.SolverOrder ?? 2;
        if (_order is < 1 or > 3)
            throw new SchedulerConfigException("solver_order", _order.ToString(CultureInfo.InvariantCulture), "1, 2 or 3");
        var algorithm = Config.AlgorithmType is null or "deis" ? "dpmsolver++" : Config.AlgorithmType;
        ConfigNames.RequireOneOf("algorithm_type", algorithm, "dpmsolver++", "dpmsolver", "sde-dpmsolver++");
        (_dataPrediction, _sde) = (algorithm != "dpmsolver", algorithm == "sde-dpmsolver++");
        var solverType = Config.SolverType is null or "logrho" or "bh1" or "bh2" ? "midpoint" : Config.SolverType;
        _heun = ConfigNames.RequireOneOf("solver_type", solverType, "midpoint", "heun") == "heun";
        _finalSigmaIsZero = ConfigNames.RequireOneOf("final_sigmas_type", Config.FinalSigmasType ?? "zero", "zero", "sigma_min") == "zero";
        if (_finalSigmaIsZero && !_dataPrediction)
            throw new SchedulerConfigException("final_sigmas_type", "\"zero\"", "\"sigma_min\" for algorithm_type \"dpmsolver\": a noise-prediction step to σ = 0 divides by zero");
        _lowerOrderFinal = Config.LowerOrderFinal ?? false;
        _lambdaMinClipped = Config.LambdaMinClipped ?? double.NegativeInfinity;
        var options = new[] { ("use_karras_sigmas", Config.UseKarrasSigmas), ("use_exponential_sigmas", Config.UseExponentialSigmas), ("use_beta_sigmas", Config.UseBetaSigmas) }
            .Where(o => o.Item2 == true).Select(o => o.Item1).ToArray();
        if (options.Length > 1)
            throw new SchedulerConfigException(options[1], "true", $"false while {options[0]} is true: choose one σ spacing");
        _spacing = options.FirstOrDefault() ?? "";
        _flow = Config.UseFlowSigmas == true;
        if (Config.PredictionType == PredictionType.FlowPrediction && !(_flow && _dataPrediction))
            throw new SchedulerConfigException("prediction_type", "\"flow_prediction\"", "epsilon, sample or v_prediction, or flow_prediction with use_flow_sigmas and dpmsolver++ or sde-dpmsolver++");
        if (_flow && _spacing.Length > 0)
            throw new SchedulerConfigException("use_flow_sigmas", "true", $"false with {_spacing} (one noise-level spacing at a time)");

        // σ_t = √((1−ᾱ_t)/ᾱ_t) of the float32 ᾱ table, in float32 as the reference holds it (its σ and timesteps come from it).
        var alphasCumprod = Float32Schedule.AlphasCumprod(WithoutZeroSnr(Config));
        var count = alphasCumprod.Length;
        _trainSigmas = Array.ConvertAll(VpFloat32.TrainingSigmas(alphasCumprod), v => (double)v);
        _logTrainSigmas = ReferenceFloat32.LogSigmas(_trainSigmas);
        (_trainLambdas, _trainIndices) = (new float[count], new double[count]);
        for (var t = 0; t < count; t++)
        {
            var a = (float)alphasCumprod[t];
            _trainLambdas[t] = VpFloat32.Lambda(MathF.Sqrt(a), MathF.Sqrt(1f - a));
            _trainIndices[t] = t;
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<double> Sigmas => _sigmas;

    /// <inheritdoc/>
    public double SigmaMin => _trainSigmas[0];

    /// <inheritdoc/>
    public double SigmaMax => _trainSigmas[^1];

    /// <summary>The order of each step of the current schedule (cycles of 1 … <c>solver_order</c>).</summary>
    public IReadOnlyList<int> StepOrders => _orders;

    /// <summary>False with a σ spacing option, which chooses its own timesteps (the reference refuses both).</summary>
    public override bool AcceptsExplicitTimesteps => _spacing.Length == 0 && !_flow;

    /// <summary>Whether the σ are flow σ (<c>use_flow_sigmas</c>).</summary>
    protected bool UsesFlowSigmas => _flow;

    /// <summary>μ for the next schedule with <c>use_dynamic_shifting</c>: the flow shift becomes e^μ (null: <c>flow_shift</c>).</summary>
    protected void UseMu(double? mu)
    {
        if (mu is { } value && !double.IsFinite(value))
            throw new SchedulerConfigException("mu", value.ToString("R", CultureInfo.InvariantCulture), "a finite number");
        _mu = mu;
    }

    /// <inheritdoc/>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        if (_flow)
        {
            // Flow σ as the reference's flow branch spaces them; timesteps σ·N truncated (neighbours may repeat).
            var shift = Config.UseDynamicShifting == true
                ? Math.Exp(_mu ?? throw new SchedulerConfigException("mu", "(none)", "a finite number given when timesteps are set: this configuration has use_dynamic_shifting"))
                : Config.FlowShift ?? 1.0;
            var flowSigmas = FlowShift.SolverFlowSigmas(numInferenceSteps, Schedule.NumTrainTimesteps, shift);
            UseSigmas(flowSigmas);
            return Array.ConvertAll(flowSigmas, s => Math.Truncate(s * Schedule.NumTrainTimesteps));
        }
        if (_spacing.Length > 0)
        {
            var sigmas = _spacing switch
            {
                "use_karras_sigmas" => SigmaMath.Karras(SigmaMin, SigmaMax, numInferenceSteps),
                "use_exponential_sigmas" => SigmaMath.Exponential(SigmaMin, SigmaMax, numInferenceSteps),
                _ => SigmaMath.Beta(SigmaMin, SigmaMax, numInferenceSteps),
            };
            // The network sees a whole training timestep: Karras σ's nearest, the others' truncated (as the reference),
            // by the reference's float32 log-σ interpolation.
            var timesteps = VpFloat32.RoundedTimesteps(sigmas, _logTrainSigmas, truncate: _spacing != "use_karras_sigmas");
            UseSigmas(sigmas);
            return timesteps;
        }

        // linspace over the training steps whose λ = −log σ is not below lambda_min_clipped (the top ones are left out).
        var clipped = _trainLambdas.Count(lambda => lambda < (float)_lambdaMinClipped);
        var points = TimestepSpacings.Linspace(0, Schedule.NumTrainTimesteps - 1 - clipped, numInferenceSteps + 1);
        var result = new double[numInferenceSteps];
        for (var i = 0; i < numInferenceSteps; i++) result[i] = Math.Round(points[numInferenceSteps - i]);
        UseSigmas(Array.ConvertAll(result, t => _trainSigmas[(int)t]));
        return result;
    }

    /// <inheritdoc/>
    /// <remarks>σ at each timestep by linear interpolation of the training σ table (exact at integers).</remarks>
    protected override double[] UseExplicitTimesteps(double[] timesteps)
    {
        UseSigmas(Array.ConvertAll(timesteps, t => SigmaMath.Interpolate(t, _trainIndices, _trainSigmas)));
        return timesteps;
    }

    /// <inheritdoc/>
    /// <remarks>The step uses each σ exactly; the network sees the nearest whole training timestep.</remarks>
    public void SetSigmas(IReadOnlyList<double> sigmas)
    {
        if (_flow) throw new SchedulerConfigException("sigmas", "an explicit list", "a step count with use_flow_sigmas (the flow schedule is made from the count)");
        var list = SigmaMath.ValidateSigmas(sigmas);
        var timesteps = VpFloat32.RoundedTimesteps(list, _logTrainSigmas, truncate: false);
        UseSigmas(list);
        ReplaceTimesteps(timesteps);
    }

    /// <inheritdoc/>
    protected override void OnReset() => (_newest, _filled) = (_order - 1, 0);

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        var n = input.Sample.Length;
        for (var slot = 0; slot < _order; slot++) Buffer(slot, n); // every buffer now, so that no later step allocates

        // 1. This step's order: its place in the cycle, limited by the predictions there are (a run may start mid-schedule).
        _filled = Math.Min(_filled + 1, _order);
        var order = Math.Min(_orders[stepIndex], _filled);
        var start = stepIndex - (order - 1); // the cycle's first step, s

        // 2. The prediction this algorithm integrates (x₀ for the ++ variants, ε for dpmsolver), pushed onto the history.
        float alphaS0 = _alphas[stepIndex], sigmaS0 = _sigmaTs[stepIndex];
        _newest = (_newest + 1) % _order;
        var m0 = Buffer(_newest, n);
        ConvertModelOutput(input, alphaS0, sigmaS0, m0);
        var wrote = !output.PredictedOriginal.IsEmpty;
        if (wrote)
        {
            if (_dataPrediction) m0.CopyTo(output.PredictedOriginal);
            else PredictionMath.ToSample(PredictionType.Epsilon, m0, input.Sample, alphaS0, sigmaS0, output.PredictedOriginal);
        }

        // 3. A cycle starts from this sample; keep it if a later step of the cycle integrates from it.
        ReadOnlySpan<float> cycleSample = input.Sample;
        if (order == 1 && _order > 1 && stepIndex + 1 < _orders.Length && _orders[stepIndex + 1] > 1)
            input.Sample.CopyTo(Buffer(CycleSampleSlot, n));
        else if (order > 1)
            cycleSample = Buffer(CycleSampleSlot, n);

        // 4. sde-dpmsolver++ draws one standard-normal tensor every step.
        Span<float> z = default;
        if (_sde)
        {
            z = Buffer(NoiseSlot, n);
            noise.NextGaussian(z);
        }

        // 5. x_t = c_x·x_s + c0·D0 + p·(m0 − D0) + q·(m1 − D0) + c_z·z, D0 being the cycle's first prediction.
        var c = Coefficients(order, start, stepIndex);
        float sample = c.Sample, d0 = c.D0, noiseScale = c.Noise;
        var prev = output.PrevSample;
        switch (order)
        {
            case 1 when z.IsEmpty: PredictionMath.Combine(d0, m0, sample, cycleSample, prev); break;
            case 1: PredictionMath.Combine(d0, m0, sample, cycleSample, noiseScale, z, prev); break;
            case 2 when z.IsEmpty: ElementWise.Apply(new SecondOrder(sample, d0, c.P, noiseScale), m0, History(1, n), cycleSample, prev); break;
            case 2: ElementWise.Apply(new SecondOrder(sample, d0, c.P, noiseScale), m0, History(1, n), cycleSample, z, prev); break;
            case 3 when z.IsEmpty: ElementWise.Apply(new ThirdOrder(sample, d0, c.P, c.Q, noiseScale), m0, History(1, n), History(2, n), cycleSample, prev); break;
            default: ElementWise.Apply(new ThirdOrder(sample, d0, c.P, c.Q, noiseScale), m0, History(1, n), History(2, n), cycleSample, z, prev); break;
        }
        return wrote;
    }

    /// <summary>
    /// The forward process at the schedule's noise level for each timestep, x = α·x₀ + σ_vp·ε with α = 1/√(1+σ²): a
    /// timestep of the schedule takes its σ (the second occurrence where it repeats, as the reference); any other, and all
    /// before timesteps are set, the training σ (interpolated at fractional timesteps).
    /// </summary>
    public override void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        CheckAddNoise(original, noise, timesteps, destination);
        VpSigmas.AddNoise(Timesteps, _sigmas, _trainSigmas, original, noise, timesteps, destination, _flow);
    }

    private Span<float> History(int age, int length) => Buffer((_newest - age + _order) % _order, length);

    private static SchedulerConfig WithoutZeroSnr(SchedulerConfig config)
    {
        var copy = config.Clone();
        copy.RescaleBetasZeroSnr = false;
        return copy;
    }

    /// <summary>x₀ (thresholded if asked) for the ++ algorithms; ε for dpmsolver, thresholded through x₀ and back.</summary>
    private void ConvertModelOutput(in StepInput input, double alpha, double sigma, Span<float> destination)
    {
        var scratch = Config.Thresholding ? Buffer(ThresholdSlot, destination.Length / input.BatchSize) : default;
        if (_dataPrediction)
        {
            PredictionMath.ToSample(Config.PredictionType, input.ModelOutput, input.Sample, alpha, sigma, destination);
            if (Config.Thresholding) SampleThresholding.Dynamic(destination, input.BatchSize, Config.DynamicThresholdingRatio, Config.SampleMaxValue, scratch);
            return;
        }
        PredictionMath.ToEpsilon(Config.PredictionType, input.ModelOutput, input.Sample, alpha, sigma, destination);
        if (!Config.Thresholding) return;
        var x0 = Buffer(X0Slot, destination.Length);
        PredictionMath.ToSample(PredictionType.Epsilon, destination, input.Sample, alpha, sigma, x0);
        SampleThresholding.Dynamic(x0, input.BatchSize, Config.DynamicThresholdingRatio, Config.SampleMaxValue, scratch);
        PredictionMath.ToEpsilon(PredictionType.Sample, x0, input.Sample, alpha, sigma, destination);
    }

    /// <summary>
    /// The update's coefficients from the cycle's first step <paramref name="start"/> (s) to the step after
    /// <paramref name="stepIndex"/> (t). The second-order terms of the reference, c·D1 with D1 = (m0 − D0)/r0, become
    /// p = c/r0; the third-order ones, D1 and D2 from the differences (m0 − D0)/r0 and (m1 − D0)/r1, become p and q.
    /// </summary>
    private StepCoefficients Coefficients(int order, int start, int stepIndex)
    {
        // Every scalar in float32 as the reference's 0-dimensional tensors (torch's exp), from the float32 α, σ_t, λ.
        static float Exp(float x) => ReferenceFloat32.TorchExp(x);
        float alphaT = _alphas[stepIndex + 1], sigmaT = _sigmaTs[stepIndex + 1];
        float alphaS = _alphas[start], sigmaS = _sigmaTs[start];
        var h = _lambdas[stepIndex + 1] - _lambdas[start];
        float sample, d0, k1, k2, noise = 0;
        if (_sde)
        {
            // The reverse SDE: e^{−2h} in place of e^{−h}, and fresh noise of variance σ_t²·(1 − e^{−2h}).
            var om = 1 - Exp(-2f * h);
            (sample, d0, noise) = (sigmaT / sigmaS * Exp(-h), alphaT * om, sigmaT * MathF.Sqrt(om));
            k1 = order == 2 && !_heun ? 0.5f * (alphaT * om) : alphaT * (om / (-2f * h) + 1f);
            var twoH = 2f * h;
            k2 = alphaT * ((1f - Exp(-2f * h) - 2f * h) / (twoH * twoH) - 0.5f);
        }
        else if (_dataPrediction)
        {
            var b = alphaT * (Exp(-h) - 1f);
            (sample, d0) = (sigmaT / sigmaS, -b);
            k1 = order == 2 && !_heun ? -(0.5f * b) : alphaT * ((Exp(-h) - 1f) / h + 1f);
            k2 = -(alphaT * ((Exp(-h) - 1f + h) / (h * h) - 0.5f));
        }
        else
        {
            var b = sigmaT * (Exp(h) - 1f);
            (sample, d0) = (alphaT / alphaS, -b);
            k1 = order == 2 && !_heun ? -(0.5f * b) : -(sigmaT * ((Exp(h) - 1f) / h - 1f));
            k2 = -(sigmaT * ((Exp(h) - 1f - h) / (h * h) - 0.5f));
        }
        if (order == 1) return new(sample, d0, 0, 0, noise);

        var r0 = (_lambdas[stepIndex] - _lambdas[start]) / h;
        if (order == 2 || !_heun) return new(sample, d0, k1 * (1f / r0), 0, noise); // third-order midpoint uses D1_1 = (m0 − D0)/r0 only
        // D1 = (r0·D1_0 − r1·D1_1)/(r0 − r1), D2 = 2·(D1_1 − D1_0)/(r0 − r1), with D1_1 = (m0 − D0)/r0, D1_0 = (m1 − D0)/r1.
        var r1 = (_lambdas[stepIndex - 1] - _lambdas[start]) / h;
        var p = (2 * k2 - k1 * r1) / (r0 * (r0 - r1));
        var q = (k1 * r0 - 2 * k2) / (r1 * (r0 - r1));
        return new(sample, d0, p, q, noise);
    }

    /// <summary>The order of each step: cycles 1 … k, the last shortened as <c>lower_order_final</c> says, and first order into σ = 0.</summary>
    private int[] StepOrderList(int steps)
    {
        var lowerOrderFinal = _lowerOrderFinal || _finalSigmaIsZero || steps % _order != 0;
        var orders = new int[steps];
        for (var i = 0; i < steps; i++) orders[i] = i % _order + 1;
        if (lowerOrderFinal && _order == 3 && steps % 3 == 0 && steps >= 3) (orders[^3], orders[^2], orders[^1]) = (1, 2, 1);
        if (lowerOrderFinal && _order == 2 && steps % 2 == 0) orders[^1] = 1;
        if (_finalSigmaIsZero) orders[^1] = 1;
        return orders;
    }

    /// <summary>Installs the σ table (float32, as the reference keeps it) with the final σ, its λ = −log σ, and the step orders.</summary>
    private void UseSigmas(double[] sigmas)
    {
        var result = new double[sigmas.Length + 1];
        sigmas.CopyTo(result, 0);
        result[^1] = _finalSigmaIsZero ? 0 : _trainSigmas[0];
        (_sigmas32, _alphas, _sigmaTs, _lambdas) = VpFloat32.Tables(result, _flow);
        _sigmas = Array.ConvertAll(_sigmas32, v => (double)v);
        _orders = StepOrderList(sigmas.Length);
    }

    private readonly record struct StepCoefficients(float Sample, float D0, float P, float Q, float Noise);

    // x_t = m1·c0 + (m0 − m1)·p [+ z·c_z] + x_s·c_x, m1 being the cycle's first prediction.
    private readonly record struct SecondOrder(float Sample, float D0, float P, float Noise) : ElementWise.IOperator3, ElementWise.IOperator4
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T m0, T m1, T sample) where T : struct, IFloatVector<T> => m1 * D0 + (m0 - m1) * P + sample * Sample;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T m0, T m1, T sample, T z) where T : struct, IFloatVector<T> =>
            m1 * D0 + (m0 - m1) * P + z * Noise + sample * Sample;
    }

    // x_t = m2·c0 + (m0 − m2)·p + (m1 − m2)·q [+ z·c_z] + x_s·c_x, m2 being the cycle's first prediction.
    private readonly record struct ThirdOrder(float Sample, float D0, float P, float Q, float Noise) : ElementWise.IOperator4, ElementWise.IOperator5
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T m0, T m1, T m2, T sample) where T : struct, IFloatVector<T> =>
            m2 * D0 + (m0 - m2) * P + (m1 - m2) * Q + sample * Sample;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T m0, T m1, T m2, T sample, T z) where T : struct, IFloatVector<T> =>
            m2 * D0 + (m0 - m2) * P + (m1 - m2) * Q + z * Noise + sample * Sample;
    }
}
