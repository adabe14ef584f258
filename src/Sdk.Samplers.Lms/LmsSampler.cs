using System.Globalization;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Lms;

/// <summary>
/// Linear multistep on the probability-flow ODE dx/dσ = d(x, σ) = (x − D(x; σ))/σ (Karras et al. 2022,
/// https://arxiv.org/abs/2206.00364; Katherine Crowson's k-diffusion <c>sample_lms</c>): the slope is extrapolated by the
/// Lagrange polynomial through the last k slopes d_i, d_{i−1}, …, d_{i−k+1} at their noise levels, and integrated
/// exactly over the step: x_{i+1} = x_i + Σ_j c_{i,j}·d_{i−j}, c_{i,j} = ∫_{σ_i}^{σ_{i+1}} ℓ_j(σ) dσ with
/// ℓ_j(σ) = Π_{m≠j} (σ − σ_{i−m})/(σ_{i−j} − σ_{i−m}). Deterministic; one network evaluation per step.
/// </summary>
/// <remarks>
/// <para>
/// Reference: <c>LMSDiscreteScheduler</c>, whose <c>order</c> is a step argument (default 4); here it is
/// <c>solver_order</c> (default 4), and step i uses order k = min(i + 1, order) as there. The reference integrates each
/// ℓ_j numerically (adaptive quadrature, relative tolerance 1e-4, on its float32 σ); the integral of a polynomial
/// is exact in closed form, which agrees with it within float32 rounding. The coefficients are computed once per
/// schedule, so a step only combines tensors.
/// </para>
/// <para>
/// Options: <c>timestep_spacing</c>, <c>use_karras_sigmas</c>, <c>use_exponential_sigmas</c>, <c>use_beta_sigmas</c>,
/// every <c>prediction_type</c>.
/// </para>
/// </remarks>
public sealed class LmsSampler : SigmaSamplerBase
{
    private const int SumSlot = FirstFreeBufferSlot;

    private readonly int _order;
    private double[] _coefficients = [];

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> for an invalid configuration.</summary>
    public LmsSampler(SchedulerConfig config) : base(SamplerNames.Lms, config)
    {
        _order = Config.SolverOrder ?? 4;
        if (_order < 1) throw new SchedulerConfigException("solver_order", _order.ToString(CultureInfo.InvariantCulture), "an integer >= 1");
    }

    /// <summary>The method's order (<c>solver_order</c>, default 4): how many past slopes one step combines at most.</summary>
    public int SolverOrder => _order;

    /// <inheritdoc/>
    protected override int HistoryCapacity => _order;

    /// <summary>c_{i,j} for every step i of the new schedule, <see cref="SolverOrder"/> per step (unused ones 0).</summary>
    protected override void OnScheduleChanged()
    {
        var sigmas = Sigmas;
        var steps = sigmas.Count - 1;
        _coefficients = new double[steps * _order];
        Span<double> nodes = stackalloc double[_order];
        Span<double> poly = stackalloc double[_order + 1];
        for (var i = 0; i < steps; i++)
        {
            var k = Math.Min(i + 1, _order);
            // Nodes relative to σ_i, so that the integral over [0, h] has no cancellation between large powers.
            for (var m = 0; m < k; m++) nodes[m] = sigmas[i - m] - sigmas[i];
            var h = sigmas[i + 1] - sigmas[i];
            for (var j = 0; j < k; j++) _coefficients[i * _order + j] = IntegrateLagrangeBasis(nodes[..k], j, h, poly);
        }
    }

    /// <inheritdoc/>
    protected override void Advance(in SigmaStep step, INoiseSource noise)
    {
        var n = step.Sample.Length;
        // 1. The slope d_i = (x − x̂₀)/σ_i joins the history (the oldest beyond the order is dropped).
        var d0 = PushHistory(n);
        Slope(step.Sample, step.Denoised, step.Sigma, d0);

        // 2. x_{i+1} = x_i + Σ_j c_{i,j}·d_{i−j}, summed from the newest slope on (the reference's order).
        var k = Math.Min(step.CallIndex + 1, Math.Min(_order, HistoryCount));
        var c = _coefficients.AsSpan(step.CallIndex * _order, _order);
        switch (k)
        {
            case 1:
                TensorPrimitives.MultiplyAdd(d0, (float)c[0], step.Sample, step.Destination);
                break;
            case 2:
                ElementWise.Apply(new Sum2((float)c[0], (float)c[1]), d0, History(1, n), step.Sample, step.Destination);
                break;
            case 3:
                ElementWise.Apply(new Sum3((float)c[0], (float)c[1], (float)c[2]), d0, History(1, n), History(2, n), step.Sample, step.Destination);
                break;
            case 4:
                ElementWise.Apply(new Sum4((float)c[0], (float)c[1], (float)c[2], (float)c[3]), d0, History(1, n), History(2, n), History(3, n), step.Sample,
                    step.Destination);
                break;
            default:
                var sum = Buffer(SumSlot, n);
                TensorPrimitives.Multiply(d0, (float)c[0], sum);
                for (var j = 1; j < k; j++) TensorPrimitives.MultiplyAdd(History(j, n), (float)c[j], sum, sum);
                TensorPrimitives.Add(step.Sample, sum, step.Destination);
                break;
        }
    }

    // ∫_0^h ℓ_j(u) du for the Lagrange basis polynomial ℓ_j of the nodes (ℓ_j = 1 at nodes[j], 0 at the others):
    // expand Π_{m≠j}(u − nodes[m]) into power coefficients, integrate term by term, divide by Π_{m≠j}(nodes[j] − nodes[m]).
    private static double IntegrateLagrangeBasis(ReadOnlySpan<double> nodes, int j, double h, Span<double> poly)
    {
        poly.Clear();
        poly[0] = 1;
        var degree = 0;
        var denominator = 1.0;
        for (var m = 0; m < nodes.Length; m++)
        {
            if (m == j) continue;
            // poly ← poly·(u − nodes[m])
            for (var p = degree + 1; p >= 1; p--) poly[p] = poly[p - 1] - nodes[m] * poly[p];
            poly[0] = -nodes[m] * poly[0];
            degree++;
            denominator *= nodes[j] - nodes[m];
        }
        double integral = 0, power = h;
        for (var p = 0; p <= degree; p++, power *= h) integral += poly[p] * power / (p + 1);
        return integral / denominator;
    }

    // x + ((c0·d0 + c1·d1) [+ c2·d2] [+ c3·d3]), the reference's order of summation.
    private readonly record struct Sum2(float C0, float C1) : ElementWise.IOperator3
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector<float> Invoke(Vector<float> d0, Vector<float> d1, Vector<float> sample) => sample + (d0 * C0 + d1 * C1);
    }

    private readonly record struct Sum3(float C0, float C1, float C2) : ElementWise.IOperator4
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector<float> Invoke(Vector<float> d0, Vector<float> d1, Vector<float> d2, Vector<float> sample) => sample + (d0 * C0 + d1 * C1 + d2 * C2);
    }

    private readonly record struct Sum4(float C0, float C1, float C2, float C3) : ElementWise.IOperator5
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector<float> Invoke(Vector<float> d0, Vector<float> d1, Vector<float> d2, Vector<float> d3, Vector<float> sample) =>
            sample + (d0 * C0 + d1 * C1 + d2 * C2 + d3 * C3);
    }
}
