using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The multistep DPM-Solver updates (Lu et al. 2022: DPM-Solver, https://arxiv.org/abs/2206.00927, and DPM-Solver++,
/// https://arxiv.org/abs/2211.01095, with the SDE variants of the reference), orders 1 to 3, in the float32 arithmetic of
/// the reference's multistep schedulers: every coefficient a float32 scalar computed as its 0-dimensional tensors are,
/// then one product per tensor, summed left to right. Shared by the samplers that step on a noise-level table with these
/// updates: EDM's DPM-Solver++ (α = 1, σ) and the DPM-Solver inversion.
/// </summary>
/// <remarks>
/// A step from s₀ to t with history m₀ (newest), m₁, m₂ of converted model outputs (x̂₀ for the ++ variants, ε̂ otherwise):
/// x_t = a·x + b₀·D₀ + b₁·D₁ + b₂·D₂ + c·z, with D₀ = m₀, D₁ = (m₀ − m₁)/r₀ (order 2) or the extrapolated
/// D₁ = D₁₀ + r₀/(r₀ + r₁)·(D₁₀ − D₁₁) and D₂ = (D₁₀ − D₁₁)/(r₀ + r₁) (order 3), r₀ = h₀/h, r₁ = h₁/h in λ = log α − log σ.
/// </remarks>
public static class DpmSolverMultistepUpdate
{
    /// <summary>Which update: data prediction (++) or noise prediction, deterministic or SDE.</summary>
    public enum Algorithm
    {
        /// <summary><c>dpmsolver++</c>: x̂₀ history, ODE.</summary>
        DpmSolverPlusPlus,
        /// <summary><c>dpmsolver</c>: ε̂ history, ODE.</summary>
        DpmSolver,
        /// <summary><c>sde-dpmsolver++</c>: x̂₀ history, SDE (fresh noise every step).</summary>
        SdeDpmSolverPlusPlus,
        /// <summary><c>sde-dpmsolver</c>: ε̂ history, SDE.</summary>
        SdeDpmSolver,
    }

    /// <summary>Parses <c>algorithm_type</c> among <paramref name="allowed"/> (default <c>dpmsolver++</c>).</summary>
    public static Algorithm ParseAlgorithm(string? text, params string[] allowed) =>
        ConfigNames.RequireOneOf("algorithm_type", text ?? "dpmsolver++", allowed) switch
        {
            "dpmsolver" => Algorithm.DpmSolver,
            "sde-dpmsolver++" => Algorithm.SdeDpmSolverPlusPlus,
            "sde-dpmsolver" => Algorithm.SdeDpmSolver,
            _ => Algorithm.DpmSolverPlusPlus,
        };

    /// <summary>Whether the history holds x̂₀ (the ++ variants) rather than ε̂.</summary>
    public static bool PredictsData(Algorithm algorithm) => algorithm is Algorithm.DpmSolverPlusPlus or Algorithm.SdeDpmSolverPlusPlus;

    /// <summary>Whether the update draws noise.</summary>
    public static bool IsStochastic(Algorithm algorithm) => algorithm is Algorithm.SdeDpmSolverPlusPlus or Algorithm.SdeDpmSolver;

    /// <summary>A noise level in the solver's terms: x = α·x₀ + σ·ε, λ = log α − log σ (float32).</summary>
    public readonly record struct Level(float Alpha, float Sigma, float Lambda)
    {
        /// <summary>The variance-preserving level of a variance-exploding σ: α = 1/√(σ² + 1), σ_t = σ·α.</summary>
        public static Level VariancePreserving(float sigma)
        {
            var alpha = 1 / MathF.Sqrt(sigma * sigma + 1);
            var sigmaT = sigma * alpha;
            return new Level(alpha, sigmaT, MathF.Log(alpha) - MathF.Log(sigmaT));
        }

        /// <summary>A flow level: α = 1 − σ, σ_t = σ, λ = log α − log σ_t (<c>use_flow_sigmas</c>).</summary>
        public static Level Flow(float sigma) => new(1 - sigma, sigma, MathF.Log(1 - sigma) - MathF.Log(sigma));

        /// <summary>EDM's level: α = 1, σ (λ = −log σ; +∞ at σ = 0).</summary>
        public static Level VarianceExploding(float sigma) => new(1, sigma, 0 - MathF.Log(sigma));
    }

    /// <summary>The scalar coefficients of one update.</summary>
    /// <param name="Sample">a, of the sample the step starts from.</param>
    /// <param name="D0">b₀.</param>
    /// <param name="D1">b₁ (orders 2 and 3).</param>
    /// <param name="D2">b₂ (order 3).</param>
    /// <param name="Noise">c, of the fresh noise (SDE variants).</param>
    /// <param name="InverseR0">1/r₀ (order 2), or r₀ (order 3).</param>
    /// <param name="InverseR1">r₁ (order 3).</param>
    public readonly record struct Coefficients(float Sample, float D0, float D1, float D2, float Noise, float InverseR0, float InverseR1);

    /// <summary>
    /// The coefficients of an update of <paramref name="order"/> from <paramref name="s0"/> to <paramref name="t"/>, with the
    /// earlier levels <paramref name="s1"/> (order ≥ 2) and <paramref name="s2"/> (order 3); <paramref name="heun"/> picks
    /// the second-order rule (<c>solver_type</c> heun, else midpoint).
    /// </summary>
    public static Coefficients For(Algorithm algorithm, bool heun, int order, Level t, Level s0, Level s1 = default, Level s2 = default)
    {
        var h = t.Lambda - s0.Lambda;
        float expMinusH = MathF.Exp(-h), expH = MathF.Exp(h), expMinus2H = MathF.Exp(-2f * h), exp2H = MathF.Exp(2 * h);
        float ratio = t.Sigma / s0.Sigma, alphaRatio = t.Alpha / s0.Alpha;
        float r0 = 0, r1 = 0;
        if (order >= 2) r0 = (s0.Lambda - s1.Lambda) / h;
        if (order >= 3) r1 = (s1.Lambda - s2.Lambda) / h;

        float a, b0, b1 = 0, b2 = 0, c = 0;
        switch (algorithm)
        {
            case Algorithm.DpmSolverPlusPlus:
                (a, b0) = (ratio, -(t.Alpha * (expMinusH - 1f)));
                if (order == 2) b1 = heun ? t.Alpha * ((expMinusH - 1f) / h + 1f) : -(0.5f * (t.Alpha * (expMinusH - 1f)));
                if (order == 3)
                {
                    b1 = t.Alpha * ((expMinusH - 1f) / h + 1f);
                    b2 = -(t.Alpha * ((expMinusH - 1f + h) / (h * h) - 0.5f));
                }
                break;
            case Algorithm.DpmSolver:
                (a, b0) = (alphaRatio, -(t.Sigma * (expH - 1f)));
                if (order == 2) b1 = heun ? -(t.Sigma * ((expH - 1f) / h - 1f)) : -(0.5f * (t.Sigma * (expH - 1f)));
                if (order == 3)
                {
                    b1 = -(t.Sigma * ((expH - 1f) / h - 1f));
                    b2 = -(t.Sigma * ((expH - 1f - h) / (h * h) - 0.5f));
                }
                break;
            case Algorithm.SdeDpmSolverPlusPlus:
                (a, b0, c) = (ratio * expMinusH, t.Alpha * (1 - expMinus2H), t.Sigma * MathF.Sqrt(1f - expMinus2H));
                if (order == 2) b1 = heun ? t.Alpha * ((1f - expMinus2H) / (-2f * h) + 1f) : 0.5f * (t.Alpha * (1 - expMinus2H));
                if (order == 3)
                {
                    b1 = t.Alpha * ((1f - expMinus2H) / (-2f * h) + 1f);
                    b2 = t.Alpha * ((1f - expMinus2H - 2f * h) / ((2f * h) * (2f * h)) - 0.5f);
                }
                break;
            default:
                (a, b0, c) = (alphaRatio, -(2f * (t.Sigma * (expH - 1f))), t.Sigma * MathF.Sqrt(exp2H - 1f));
                if (order == 2) b1 = heun ? -(2f * (t.Sigma * ((expH - 1f) / h - 1f))) : -(t.Sigma * (expH - 1f));
                if (order == 3) throw new NotSupportedException("The reference's sde-dpmsolver has no third-order update.");
                break;
        }
        return order switch
        {
            2 => new Coefficients(a, b0, b1, 0, c, 1f / r0, 0),
            3 => new Coefficients(a, b0, b1, b2, c, r0, r1),
            _ => new Coefficients(a, b0, 0, 0, c, 0, 0),
        };
    }

    /// <summary>
    /// The update of <paramref name="order"/> (1, 2 or 3; <paramref name="m1"/> and <paramref name="m2"/> are read only
    /// from the orders that use them), the one dispatch every multistep sampler on this update shares.
    /// </summary>
    public static void Apply(in Coefficients k, int order, ReadOnlySpan<float> sample, ReadOnlySpan<float> m0, ReadOnlySpan<float> m1, ReadOnlySpan<float> m2,
        ReadOnlySpan<float> noise, Span<float> destination)
    {
        switch (order)
        {
            case 1:
                FirstOrder(k, sample, m0, noise, destination);
                break;
            case 2:
                SecondOrder(k, sample, m0, m1, noise, destination);
                break;
            default:
                ThirdOrder(k, sample, m0, m1, m2, noise, destination);
                break;
        }
    }

    /// <summary>x_t = a·x + b₀·m₀ [+ c·z]: the first-order update (<paramref name="noise"/> empty for the ODE variants).</summary>
    public static void FirstOrder(in Coefficients k, ReadOnlySpan<float> sample, ReadOnlySpan<float> m0, ReadOnlySpan<float> noise, Span<float> destination)
    {
        if (noise.IsEmpty) ElementWise.Apply(new First(k), sample, m0, destination);
        else ElementWise.Apply(new First(k), sample, m0, noise, destination);
    }

    /// <summary>The second-order update with D₁ = (1/r₀)·(m₀ − m₁).</summary>
    public static void SecondOrder(in Coefficients k, ReadOnlySpan<float> sample, ReadOnlySpan<float> m0, ReadOnlySpan<float> m1, ReadOnlySpan<float> noise,
        Span<float> destination)
    {
        if (noise.IsEmpty) ElementWise.Apply(new Second(k), sample, m0, m1, destination);
        else ElementWise.Apply(new Second(k), sample, m0, m1, noise, destination);
    }

    /// <summary>The third-order update with the extrapolated D₁ and D₂.</summary>
    public static void ThirdOrder(in Coefficients k, ReadOnlySpan<float> sample, ReadOnlySpan<float> m0, ReadOnlySpan<float> m1, ReadOnlySpan<float> m2,
        ReadOnlySpan<float> noise, Span<float> destination)
    {
        if (noise.IsEmpty) ElementWise.Apply(new Third(k), sample, m0, m1, m2, destination);
        else ElementWise.Apply(new Third(k), sample, m0, m1, m2, noise, destination);
    }

    private readonly record struct First(Coefficients K) : ElementWise.IOperator2, ElementWise.IOperator3
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T m0) where T : struct, IFloatVector<T> => K.Sample * x + K.D0 * m0;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T m0, T z) where T : struct, IFloatVector<T> => K.Sample * x + K.D0 * m0 + K.Noise * z;
    }

    private readonly record struct Second(Coefficients K) : ElementWise.IOperator3, ElementWise.IOperator4
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T m0, T m1) where T : struct, IFloatVector<T> => K.Sample * x + K.D0 * m0 + K.D1 * (K.InverseR0 * (m0 - m1));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T m0, T m1, T z) where T : struct, IFloatVector<T> =>
            K.Sample * x + K.D0 * m0 + K.D1 * (K.InverseR0 * (m0 - m1)) + K.Noise * z;
    }

    // r₀ and r₁ ride in InverseR0/InverseR1: D₁₀ = (1/r₀)(m₀ − m₁), D₁₁ = (1/r₁)(m₁ − m₂), D₁ = D₁₀ + (r₀/(r₀ + r₁))(D₁₀ − D₁₁),
    // D₂ = (1/(r₀ + r₁))(D₁₀ − D₁₁), each scalar a float32 tensor of its own, as the reference's.
    private readonly record struct Third(Coefficients K) : ElementWise.IOperator4, ElementWise.IOperator5
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T m0, T m1, T m2) where T : struct, IFloatVector<T>
        {
            float r0 = K.InverseR0, r1 = K.InverseR1;
            var d10 = 1f / r0 * (m0 - m1);
            var d11 = 1f / r1 * (m1 - m2);
            var d1 = d10 + r0 / (r0 + r1) * (d10 - d11);
            var d2 = 1f / (r0 + r1) * (d10 - d11);
            return K.Sample * x + K.D0 * m0 + K.D1 * d1 + K.D2 * d2;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T m0, T m1, T m2, T z) where T : struct, IFloatVector<T> => Invoke(x, m0, m1, m2) + K.Noise * z;
    }
}
