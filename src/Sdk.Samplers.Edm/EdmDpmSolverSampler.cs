using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Update = Diffusion.Sdk.Sampling.DpmSolverMultistepUpdate;

namespace Diffusion.Sdk.Samplers.Edm;

/// <summary>
/// DPM-Solver++ multistep (Lu et al. 2022, https://arxiv.org/abs/2211.01095) on the EDM preconditioning (Karras et al.
/// 2022), as the reference's <c>EDMDPMSolverMultistepScheduler</c>: orders 1 to 3 (<c>solver_order</c>, default 2),
/// <c>dpmsolver++</c> or <c>sde-dpmsolver++</c>, midpoint or Heun second-order rule, <c>lower_order_final</c>,
/// <c>euler_at_final</c>, dynamic thresholding of x̂₀. The levels are EDM's α = 1, σ (λ = −log σ); the updates are
/// <see cref="DpmSolverMultistepUpdate"/>'s, on the x̂₀ history of <see cref="EdmSamplerBase.Precondition"/>.
/// </summary>
public sealed class EdmDpmSolverSampler : EdmSamplerBase
{
    private const int LowerOrderFinalStepLimit = 15;
    private const int HistoryBaseSlot = 0, NoiseSlot = 3, ThresholdSlot = 4;

    private readonly int _order;
    private readonly Update.Algorithm _algorithm;
    private readonly bool _heun;
    private int _newest, _lowerOrderNums;

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> for an invalid configuration.</summary>
    public EdmDpmSolverSampler(SchedulerConfig config) : base(SamplerNames.EdmDpmSolver, config, float32Karras: true)
    {
        _order = Config.SolverOrder ?? 2;
        if (_order > 3) throw new SchedulerConfigException("solver_order", _order.ToString(System.Globalization.CultureInfo.InvariantCulture), "1, 2 or 3");
        _algorithm = Update.ParseAlgorithm(Config.AlgorithmType, "dpmsolver++", "sde-dpmsolver++");
        if (_order == 3 && Update.IsStochastic(_algorithm))
            throw new SchedulerConfigException("solver_order", "3", "1 or 2 with sde-dpmsolver++ (the reference has no third-order SDE update)");
        _heun = ConfigNames.RequireOneOf("solver_type", Config.SolverType ?? "midpoint", "midpoint", "heun") == "heun";
    }

    /// <summary>With "sigma_min" the configured sigma_min is the final σ (the reference's EDM DPM-Solver).</summary>
    protected override double SigmaMinFinal(float lastSpaced) => (float)SigmaMin;

    /// <inheritdoc/>
    protected override void OnReset() => (_newest, _lowerOrderNums) = (0, 0);

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        var n = input.Sample.Length;
        var steps = Timesteps.Count;

        // 1. The order: lower at the end of short runs, at the very end with a zero final σ or euler_at_final, and while
        //    the history fills.
        var lowerOrderFinal = Config.LowerOrderFinal ?? true;
        var lastFirstOrder = stepIndex == steps - 1 &&
            (Config.EulerAtFinal == true || (lowerOrderFinal && steps < LowerOrderFinalStepLimit) || (Config.FinalSigmasType ?? "zero") == "zero");
        var secondToLastLimited = stepIndex == steps - 2 && lowerOrderFinal && steps < LowerOrderFinalStepLimit;
        var order = _order == 1 || _lowerOrderNums < 1 || lastFirstOrder ? 1
            : _order == 2 || _lowerOrderNums < 2 || secondToLastLimited ? 2 : 3;

        // 2. x̂₀ = c_skip·x + c_out·F at σ (thresholded where configured), the newest history entry.
        var (sigma, next) = SigmasAt(stepIndex);
        _newest = (_newest + 1) % _order;
        var m0 = Buffer(HistoryBaseSlot + _newest, n);
        Precondition(input.Sample, input.ModelOutput, sigma, m0);
        if (Config.Thresholding)
            SampleThresholding.Dynamic(m0, input.BatchSize, Config.DynamicThresholdingRatio, Config.SampleMaxValue, Buffer(ThresholdSlot, n / input.BatchSize));
        var wantsX0 = !output.PredictedOriginal.IsEmpty;
        if (wantsX0) m0.CopyTo(output.PredictedOriginal);

        // 3. Fresh noise for the SDE variant, every step.
        ReadOnlySpan<float> z = default;
        if (Update.IsStochastic(_algorithm))
        {
            var draw = Buffer(NoiseSlot, n);
            noise.NextGaussian(draw);
            z = draw;
        }

        // 4. The update of that order on α = 1, σ.
        var t = Update.Level.VarianceExploding(next);
        var s0 = Update.Level.VarianceExploding(sigma);
        var s1 = order >= 2 ? Update.Level.VarianceExploding(SigmasAt(stepIndex - 1).Sigma) : default;
        var s2 = order >= 3 ? Update.Level.VarianceExploding(SigmasAt(stepIndex - 2).Sigma) : default;
        var k = Update.For(_algorithm, _heun, order, t, s0, s1, s2);
        Update.Apply(k, order, input.Sample, m0, order >= 2 ? History(1, n) : default, order >= 3 ? History(2, n) : default, z, output.PrevSample);
        if (_lowerOrderNums < _order) _lowerOrderNums++;
        return wantsX0;
    }

    // The history entry `age` steps older than the newest.
    private ReadOnlySpan<float> History(int age, int length) => Buffer(HistoryBaseSlot + (_newest - age + 3 * _order) % _order, length);
}
