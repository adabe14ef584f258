using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Deis;

/// <summary>
/// DEIS, the diffusion exponential integrator sampler ("Fast Sampling of Diffusion Models with Exponential
/// Integrator", Zhang &amp; Chen 2023, https://arxiv.org/abs/2204.13902), in its multistep "ρAB" form with a
/// polynomial in log ρ (<c>logrho</c>). In ρ = σ_t/α_t (the variance-exploding σ) and y = x/α the probability-flow ODE
/// is dy/dρ = ε_θ, whose linear part is thereby solved exactly (§4); the step integrates the Lagrange polynomial through
/// the last one, two or three noise predictions, placed at their log ρ:
/// <code>x_t = α_t·(x_s/α_s + Σ_j C_j·ε_j),  C_j = ∫_{ρ_s}^{ρ_t} ℓ_j(log ρ) dρ</code>
/// with ℓ_j the Lagrange basis polynomial of node j (eq. 14 with the time-scaled basis of §4.1). The first order is DDIM.
/// </summary>
/// <remarks>
/// <para>
/// Defaults as the reference (DEISMultistepScheduler): <c>solver_order</c> 2, <c>algorithm_type</c> deis,
/// <c>solver_type</c> logrho, <c>lower_order_final</c> true (the last two steps of schedules under 15 steps at lower
/// order), <c>timestep_spacing</c> linspace. As there: the last step goes to σ of training step 0 (a σ spacing repeats
/// its last σ instead, so that step returns its input); dpmsolver/dpmsolver++ read as deis and midpoint/heun/bh1/bh2 as
/// logrho; <c>thresholding</c> acts on x₀ before it is turned into ε.
/// </para>
/// <para>Where this differs from the reference, on purpose: see <see cref="SigmaTableSamplerBase"/>.</para>
/// </remarks>
public class DeisSampler : SigmaTableSamplerBase
{
    // lower_order_final lowers the order of the last two steps only for schedules shorter than this, as the reference does.
    private const int LowerOrderFinalStepLimit = 15;

    // Buffer slots: ε predictions in a ring of up to three slots (0–2), then x₀ and thresholding scratch.
    private const int X0Slot = 3, ThresholdSlot = 4;

    private readonly int _order;
    private readonly bool _lowerOrderFinal;
    private int _newest, _lowerOrderNums;
    // use_flow_sigmas: flow σ (α = 1 − σ) as the reference's flow branch spaces them; μ with use_dynamic_shifting.
    private readonly bool _flow;
    private double? _mu;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> naming the key for an invalid or undefined configuration.</summary>
    public DeisSampler(SchedulerConfig config) : base(SamplerNames.Deis, config, offersFlowSigmas: true)
    {
        _order = Config.SolverOrder ?? 2;
        // solver_order's upper bound is each sampler's own (the configuration only requires >= 1).
        if (_order > 3) throw new SchedulerConfigException("solver_order", _order.ToString(System.Globalization.CultureInfo.InvariantCulture), "1, 2 or 3 (DEIS here has updates of orders 1 to 3)");
        var algorithm = Config.AlgorithmType ?? "deis";
        if (algorithm is "dpmsolver" or "dpmsolver++") algorithm = "deis";
        ConfigNames.RequireOneOf("algorithm_type", algorithm, "deis");
        var solverType = Config.SolverType ?? "logrho";
        if (solverType is "midpoint" or "heun" or "bh1" or "bh2") solverType = "logrho";
        ConfigNames.RequireOneOf("solver_type", solverType, "logrho");
        _lowerOrderFinal = Config.LowerOrderFinal ?? true;
        _flow = Config.UseFlowSigmas == true;
        if (Config.PredictionType == PredictionType.FlowPrediction && !_flow)
            throw new SchedulerConfigException("prediction_type", "\"flow_prediction\"", "epsilon, sample or v_prediction, or use_flow_sigmas true with flow_prediction");
        if (_flow && SigmaSpacing != SigmaSpacing.Timesteps)
            throw new SchedulerConfigException("use_flow_sigmas", "true", "false with use_karras_sigmas, use_exponential_sigmas or use_beta_sigmas (one noise-level spacing at a time)");
    }

    /// <summary>Whether the σ are flow σ (<c>use_flow_sigmas</c>).</summary>
    protected bool UsesFlowSigmas => _flow;

    /// <summary>False with flow σ (the reference's flow schedule comes from a count), else as the base.</summary>
    public override bool AcceptsExplicitTimesteps => !_flow && base.AcceptsExplicitTimesteps;

    /// <summary>μ for the next schedule with <c>use_dynamic_shifting</c>: the flow shift becomes e^μ (null: <c>flow_shift</c>).</summary>
    protected void UseMu(double? mu)
    {
        if (mu is { } value && !double.IsFinite(value))
            throw new SchedulerConfigException("mu", value.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "a finite number");
        _mu = mu;
    }

    /// <inheritdoc/>
    /// <remarks>Flow σ: the DPM-Solver family's flow schedule (<see cref="FlowShift.SolverFlowSigmas"/>), its last σ
    /// repeated as the final one (as the reference's DEIS), timesteps σ·N truncated.</remarks>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        if (!_flow) return base.CreateTimesteps(numInferenceSteps);
        var shift = Config.UseDynamicShifting == true
            ? Math.Exp(_mu ?? throw new SchedulerConfigException("mu", "(none)", "a finite number given when timesteps are set: this configuration has use_dynamic_shifting"))
            : Config.FlowShift ?? 1.0;
        var sigmas = FlowShift.SolverFlowSigmas(numInferenceSteps, Schedule.NumTrainTimesteps, shift);
        InstallFlowSigmas(sigmas, sigmas[^1]);
        return Array.ConvertAll(sigmas, s => Math.Truncate(s * Schedule.NumTrainTimesteps));
    }

    /// <inheritdoc/>
    /// <remarks>σ of training step 0 (the last σ where it lies below); a σ spacing's last σ repeated, as the reference does.</remarks>
    protected override double FinalSigma(double lastSigma, bool spaced) => spaced ? lastSigma : Math.Min(lastSigma, Table.SigmaMin);

    /// <inheritdoc/>
    protected override void OnReset()
    {
        _newest = _order - 1;
        _lowerOrderNums = 0;
    }

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        var n = input.Sample.Length;
        var last = Timesteps.Count - 1;
        for (var slot = 0; slot < _order; slot++) Buffer(slot, n); // every buffer the run needs, so no later step allocates
        if (Config.Thresholding) Buffer(ThresholdSlot, n / input.BatchSize);

        // 1. The order: limited by the history there is; short schedules take their last two steps lower.
        var shortSchedule = _lowerOrderFinal && Timesteps.Count < LowerOrderFinalStepLimit;
        var order = _order == 1 || _lowerOrderNums < 1 || (shortSchedule && stepIndex == last) ? 1
            : _order == 2 || _lowerOrderNums < 2 || (shortSchedule && stepIndex == last - 1) ? 2
            : 3;

        // 2. This step's ε, pushed onto the history: always through x₀, as the reference's convert_model_output goes
        //    (an ε model's output is turned into x₀ and back, which rounds it twice; with σ ~ 10⁴, on the cosine schedule,
        //    that round trip moves ε visibly and the reference's result with it).
        _newest = (_newest + 1) % _order;
        var epsilon = Buffer(_newest, n);
        float alphaS = Alphas[stepIndex], sigmaS = SigmaTs[stepIndex];
        var wrote = !output.PredictedOriginal.IsEmpty;
        var type = Config.PredictionType;
        ReadOnlySpan<float> x0 = input.ModelOutput;
        if (type != PredictionType.Sample || Config.Thresholding)
        {
            var destination = wrote ? output.PredictedOriginal : Buffer(X0Slot, n);
            PredictionMath.ToSample(type, input.ModelOutput, input.Sample, alphaS, sigmaS, destination);
            if (Config.Thresholding)
                SampleThresholding.Dynamic(destination, input.BatchSize, Config.DynamicThresholdingRatio, Config.SampleMaxValue, Buffer(ThresholdSlot, n / input.BatchSize));
            x0 = destination;
        }
        else if (wrote) input.ModelOutput.CopyTo(output.PredictedOriginal);
        PredictionMath.ToEpsilon(PredictionType.Sample, x0, input.Sample, alphaS, sigmaS, epsilon);

        // 3. The update, in the reference's float32: its coefficients from 0-dimensional float32 tensors, then one
        //    tensor operation at a time.
        float alphaT = Alphas[stepIndex + 1], sigmaT = SigmaTs[stepIndex + 1];
        if (order == 1)
        {
            // x_t = (α_t/α_s)·x_s − σ_t·(e^h − 1)·ε, h = λ_t − λ_s.
            var h = Lambdas[stepIndex + 1] - Lambdas[stepIndex];
            PredictionMath.Combine(alphaT / alphaS, input.Sample, -(sigmaT * (ReferenceFloat32.TorchExp(h) - 1f)), epsilon, output.PrevSample);
        }
        else
        {
            // x_t = α_t·(x_s/α_s + Σ_j C_j·ε_j).
            Span<float> c = stackalloc float[3];
            Coefficients(stepIndex, order, c);
            var update = new RhoUpdate(alphaT, alphaS, c[0], c[1], c[2]);
            if (order == 2) ElementWise.Apply(update, input.Sample, epsilon, History(1, n), output.PrevSample);
            else ElementWise.Apply(update, input.Sample, epsilon, History(1, n), History(2, n), output.PrevSample);
        }

        if (_lowerOrderNums < _order) _lowerOrderNums++;
        return wrote;
    }

    /// <summary>
    /// C_j = ∫_{ρ_s}^{ρ_t} ℓ_j(log ρ) dρ for the nodes ρ_s, ρ_{s−1}, … (<paramref name="order"/> 2 or 3 of them), as the
    /// reference evaluates its closed forms: ρ = σ_t/α_t in float32, numpy's float32 log of each ρ, the antiderivative at
    /// ρ_t minus that at ρ_s, every operation rounded to float32 in the reference's order.
    /// </summary>
    private void Coefficients(int stepIndex, int order, Span<float> c)
    {
        float Rho(int i) => SigmaTs[i] / Alphas[i];
        static float Log(float x) => ReferenceFloat32.NumpyLog(x);
        float rhoT = Rho(stepIndex + 1), rho0 = Rho(stepIndex), rho1 = Rho(stepIndex - 1);
        if (order == 2)
        {
            // ∫ (log t − log c)/(log b − log c) dt = t·(−log c + log t − 1)/(log b − log c).
            static float Integral(float t, float b, float cc) => t * (-Log(cc) + Log(t) - 1f) / (Log(b) - Log(cc));
            c[0] = Integral(rhoT, rho0, rho1) - Integral(rho0, rho0, rho1);
            c[1] = Integral(rhoT, rho1, rho0) - Integral(rho0, rho1, rho0);
            return;
        }
        var rho2 = Rho(stepIndex - 2);
        // ∫ (log t − log c)(log t − log d) / ((log b − log c)(log b − log d)) dt, expanded as the reference writes it.
        static float Integral3(float t, float b, float cc, float d)
        {
            float lt = Log(t), lc = Log(cc), ld = Log(d);
            var numerator = t * (lc * (ld - lt + 1f) - ld * lt + ld + lt * lt - 2f * lt + 2f);
            var denominator = (Log(b) - lc) * (Log(b) - ld);
            return numerator / denominator;
        }
        c[0] = Integral3(rhoT, rho0, rho1, rho2) - Integral3(rho0, rho0, rho1, rho2);
        c[1] = Integral3(rhoT, rho1, rho2, rho0) - Integral3(rho0, rho1, rho2, rho0);
        c[2] = Integral3(rhoT, rho2, rho0, rho1) - Integral3(rho0, rho2, rho0, rho1);
    }

    // x_t = α_t·(((x_s/α_s + C₀·ε₀) + C₁·ε₁) [+ C₂·ε₂]), rounded after every operation as the reference's tensors are.
    private readonly record struct RhoUpdate(float AlphaT, float AlphaS, float C0, float C1, float C2) : ElementWise.IOperator3, ElementWise.IOperator4
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T e0, T e1) where T : struct, IFloatVector<T> => (sample / AlphaS + e0 * C0 + e1 * C1) * AlphaT;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T e0, T e1, T e2) where T : struct, IFloatVector<T> => (sample / AlphaS + e0 * C0 + e1 * C1 + e2 * C2) * AlphaT;
    }

    /// <summary>The stored ε <paramref name="age"/> steps back (0 = this step's).</summary>
    private Span<float> History(int age, int length) => Buffer((_newest - age + _order) % _order, length);
}
