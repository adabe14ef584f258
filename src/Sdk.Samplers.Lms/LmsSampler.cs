using System.Globalization;
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
        // 1. The slope d_i = (x − x̂₀)/σ_i joins the history (the oldest beyond the order is dropped); 2. x_{i+1} = x_i +
        //    Σ_j c_{i,j}·d_{i−j}, summed from the newest slope on (the reference's order). Up to order 4 both in one pass.
        var d0 = PushHistory(n);
        var k = Math.Min(step.CallIndex + 1, Math.Min(_order, HistoryCount));
        var c = _coefficients.AsSpan(step.CallIndex * _order, _order);
        switch (k)
        {
            case 1:
                ElementWise.Apply(new Lms1(step.Sigma, (float)c[0]), step.Sample, step.Denoised, step.Destination, d0);
                break;
            case 2:
                ElementWise.Apply(new Lms2(step.Sigma, (float)c[0], (float)c[1]), step.Sample, step.Denoised, (ReadOnlySpan<float>)History(1, n), step.Destination, d0);
                break;
            case 3:
                ElementWise.Apply(new Lms3(step.Sigma, (float)c[0], (float)c[1], (float)c[2]), step.Sample, step.Denoised, History(1, n), History(2, n),
                    step.Destination, d0);
                break;
            case 4:
                ElementWise.Apply(new Lms4(step.Sigma, (float)c[0], (float)c[1], (float)c[2], (float)c[3]), step.Sample, step.Denoised, History(1, n), History(2, n),
                    History(3, n), step.Destination, d0);
                break;
            default:
                Slope(step.Sample, step.Denoised, step.Sigma, d0);
                var sum = Buffer(SumSlot, n);
                ElementWise.Apply(new Scaled((float)c[0]), d0, sum);
                for (var j = 1; j < k; j++) ElementWise.Apply(new AddScaled((float)c[j]), History(j, n), sum, sum);
                ElementWise.Apply(new Plus(), step.Sample, sum, step.Destination);
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

    // d0 = (x − x̂₀)/σ (kept in the history), then x + ((c0·d0 + c1·d1) [+ c2·d2] [+ c3·d3]): the reference's order of
    // summation, and the roundings of its separate slope and sum.
    private readonly record struct Lms1(float Sigma, float C0) : ElementWise.IOperator2To2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T x0, out T d0) where T : struct, IFloatVector<T>
        {
            d0 = (sample - x0) / Sigma;
            return d0 * C0 + sample;
        }
    }

    private readonly record struct Lms2(float Sigma, float C0, float C1) : ElementWise.IOperator3To2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T x0, T d1, out T d0) where T : struct, IFloatVector<T>
        {
            d0 = (sample - x0) / Sigma;
            return sample + (d0 * C0 + d1 * C1);
        }
    }

    private readonly record struct Lms3(float Sigma, float C0, float C1, float C2) : ElementWise.IOperator4To2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T x0, T d1, T d2, out T d0) where T : struct, IFloatVector<T>
        {
            d0 = (sample - x0) / Sigma;
            return sample + (d0 * C0 + d1 * C1 + d2 * C2);
        }
    }

    private readonly record struct Lms4(float Sigma, float C0, float C1, float C2, float C3) : ElementWise.IOperator5To2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T x0, T d1, T d2, T d3, out T d0) where T : struct, IFloatVector<T>
        {
            d0 = (sample - x0) / Sigma;
            return sample + (d0 * C0 + d1 * C1 + d2 * C2 + d3 * C3);
        }
    }

    // Orders above 4: the sum one term per pass, c0·d0, then + c_j·d_j, then x + the sum.
    private readonly record struct Scaled(float C) : ElementWise.IOperator1
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T d) where T : struct, IFloatVector<T> => d * C;
    }

    private readonly record struct AddScaled(float C) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T d, T sum) where T : struct, IFloatVector<T> => d * C + sum;
    }

    private readonly record struct Plus : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T sum) where T : struct, IFloatVector<T> => sample + sum;
    }
}
