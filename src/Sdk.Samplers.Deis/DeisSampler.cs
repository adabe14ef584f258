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
public sealed class DeisSampler : SigmaTableSamplerBase
{
    // lower_order_final lowers the order of the last two steps only for schedules shorter than this, as the reference does.
    private const int LowerOrderFinalStepLimit = 15;

    // Buffer slots: ε predictions in a ring of up to three slots (0–2), then x₀ and thresholding scratch.
    private const int X0Slot = 3, ThresholdSlot = 4;

    private readonly int _order;
    private readonly bool _lowerOrderFinal;
    private int _newest, _lowerOrderNums;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> naming the key for an invalid or undefined configuration.</summary>
    public DeisSampler(SchedulerConfig config) : base(SamplerNames.Deis, config)
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

        // 2. This step's ε (through x₀ when thresholding), pushed onto the history.
        _newest = (_newest + 1) % _order;
        var epsilon = Buffer(_newest, n);
        var (alphaS, sigmaS) = IntegerTimestepSigmas.AlphaSigma(Sigmas[stepIndex]);
        var wrote = !output.PredictedOriginal.IsEmpty;
        var type = Config.PredictionType;
        if (Config.Thresholding)
        {
            var x0 = wrote ? output.PredictedOriginal : Buffer(X0Slot, n);
            PredictionMath.ToSample(type, input.ModelOutput, input.Sample, alphaS, sigmaS, x0);
            SampleThresholding.Dynamic(x0, input.BatchSize, Config.DynamicThresholdingRatio, Config.SampleMaxValue, Buffer(ThresholdSlot, n / input.BatchSize));
            PredictionMath.ToEpsilon(PredictionType.Sample, x0, input.Sample, alphaS, sigmaS, epsilon);
        }
        else
        {
            if (wrote) PredictionMath.ToSample(type, input.ModelOutput, input.Sample, alphaS, sigmaS, output.PredictedOriginal);
            PredictionMath.ToEpsilon(type, input.ModelOutput, input.Sample, alphaS, sigmaS, epsilon);
        }

        // 3. x_t = (α_t/α_s)·x_s + Σ_j α_t·C_j·ε_j in one pass.
        var alphaT = IntegerTimestepSigmas.AlphaSigma(Sigmas[stepIndex + 1]).Alpha;
        Span<double> c = stackalloc double[3];
        Coefficients(stepIndex, order, c);
        float cx = (float)(alphaT / alphaS), c0 = (float)(alphaT * c[0]), c1 = (float)(alphaT * c[1]), c2 = (float)(alphaT * c[2]);
        if (order == 1) PredictionMath.Combine(cx, input.Sample, c0, epsilon, output.PrevSample);
        else if (order == 2) PredictionMath.Combine(cx, input.Sample, c0, epsilon, c1, History(1, n), output.PrevSample);
        else PredictionMath.Combine(cx, input.Sample, c0, epsilon, c1, History(1, n), c2, History(2, n), output.PrevSample);

        if (_lowerOrderNums < _order) _lowerOrderNums++;
        return wrote;
    }

    /// <summary>
    /// C_j = ∫_{ρ_s}^{ρ_t} ℓ_j dρ for the nodes ρ_s, ρ_{s−1}, … (<paramref name="order"/> of them). With L = log ρ, ℓ_j is
    /// a polynomial p₀ + p₁·L + p₂·L², and ∫ρ-antiderivatives of 1, L, L² are ρ, ρ(L − 1), ρ(L² − 2L + 2).
    /// </summary>
    private void Coefficients(int stepIndex, int order, Span<double> c)
    {
        double rhoS = Sigmas[stepIndex], rhoT = Sigmas[stepIndex + 1];
        double ls = Math.Log(rhoS), lt = Math.Log(rhoT);
        var a0 = rhoT - rhoS;
        var a1 = rhoT * (lt - 1) - rhoS * (ls - 1);
        var a2 = rhoT * (lt * lt - 2 * lt + 2) - rhoS * (ls * ls - 2 * ls + 2);

        Span<double> nodes = stackalloc double[3];
        for (var j = 0; j < order; j++) nodes[j] = Math.Log(Sigmas[stepIndex - j]);
        for (var j = 0; j < order; j++)
        {
            if (order == 1)
            {
                c[j] = a0;
                continue;
            }
            // ℓ_j = Π_{m≠j} (L − L_m)/(L_j − L_m).
            double p0 = 1, p1 = 0, p2 = 0, denominator = 1;
            for (var m = 0; m < order; m++)
            {
                if (m == j) continue;
                (p0, p1, p2) = (-nodes[m] * p0, p0 - nodes[m] * p1, p1 - nodes[m] * p2);
                denominator *= nodes[j] - nodes[m];
            }
            c[j] = (p0 * a0 + p1 * a1 + p2 * a2) / denominator;
        }
    }

    /// <summary>The stored ε <paramref name="age"/> steps back (0 = this step's).</summary>
    private Span<float> History(int age, int length) => Buffer((_newest - age + _order) % _order, length);
}
