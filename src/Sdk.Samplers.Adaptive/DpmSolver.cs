using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Adaptive;

/// <summary>
/// The single-step DPM-Solver updates of Lu et al. 2022 (eq. 3.7 and Algorithms 1–2) in t = −log σ, on the σ-space
/// sample x = x₀ + σ·ε with ε̂ = (x − D)/σ, from s to t = s + h.
/// </summary>
/// <remarks>
/// Computed in float32 the way k-diffusion's <c>DPMSolver</c> computes them on float32 tensors: every scalar
/// coefficient (σ = e^−t, e^h − 1, their products) rounded to float as torch's 0-dimensional tensors round it, and
/// every element operation rounded in the same order (a product, then a difference). An adaptive step's error is the
/// difference of two such solutions, which early in a run is a few float32 units: computing it any other way (in
/// double, say) changes it by as much as it is, and so the step sizes the controller picks.
/// </remarks>
internal static class DpmSolver
{
    /// <summary>σ = e^(−t), as torch's float32 <c>t.neg().exp()</c>.</summary>
    public static float Sigma(float t) => MathF.Exp(-t);

    // DPM-Solver-1 (DDIM): x_t = x_s − σ_t·(e^h − 1)·ε̂_s.
    public static void First(ReadOnlySpan<float> x, float s, float t, ReadOnlySpan<float> eps0, Span<float> result)
    {
        var a = Sigma(t) * Expm1(t - s);
        ElementWise.Apply(new MinusScaled(a), x, eps0, result);
    }

    // DPM-Solver-2's intermediate point u₁ = x_s − σ_{s₁}·(e^{r₁h} − 1)·ε̂_s at s₁ = s + r₁h; returns σ_{s₁}.
    public static float SecondStage(ReadOnlySpan<float> x, float s, float t, float r1, ReadOnlySpan<float> eps0, Span<float> stage)
    {
        var h = t - s;
        var sigma1 = Sigma(s + r1 * h);
        var a = sigma1 * Expm1(r1 * h);
        ElementWise.Apply(new MinusScaled(a), x, eps0, stage);
        return sigma1;
    }

    // DPM-Solver-2 (Algorithm 1): x_t = x_s − σ_t(e^h − 1)ε̂_s − σ_t/(2r₁)·(e^h − 1)·(ε̂_{s₁} − ε̂_s).
    public static void Second(ReadOnlySpan<float> x, float s, float t, double r1, ReadOnlySpan<float> eps0, ReadOnlySpan<float> eps1, Span<float> result)
    {
        var e = Expm1(t - s);
        var sigmaT = Sigma(t);
        float a = sigmaT * e, b = sigmaT / (float)(2 * r1) * e;
        ElementWise.Apply(new MinusScaledAndDifference(a, b), x, eps0, eps1, result);
    }

    // DPM-Solver-3's second intermediate point (Algorithm 2, r₁ = 1/3, r₂ = 2/3) from ε̂ at s and at s + h/3; returns σ_{s₂}.
    public static float ThirdStage(ReadOnlySpan<float> x, float s, float t, ReadOnlySpan<float> eps0, ReadOnlySpan<float> eps1, Span<float> stage)
    {
        const float r2 = 2f / 3;
        const double r2OverR1 = 2.0 / 3 / (1.0 / 3);
        var h = t - s;
        var r2h = r2 * h;
        var sigma2 = Sigma(s + r2h);
        var e2 = Expm1(r2h);
        float a = sigma2 * e2, b = sigma2 * (float)r2OverR1 * (e2 / r2h - 1);
        ElementWise.Apply(new MinusScaledAndDifference(a, b), x, eps0, eps1, stage);
        return sigma2;
    }

    // DPM-Solver-3 (Algorithm 2): x_t = x_s − σ_t(e^h − 1)ε̂_s − σ_t/r₂·((e^h − 1)/h − 1)·(ε̂_{s₂} − ε̂_s).
    public static void Third(ReadOnlySpan<float> x, float s, float t, ReadOnlySpan<float> eps0, ReadOnlySpan<float> eps2, Span<float> result)
    {
        const float r2 = 2f / 3;
        var h = t - s;
        var e = Expm1(h);
        var sigmaT = Sigma(t);
        float a = sigmaT * e, b = sigmaT / r2 * (e / h - 1);
        ElementWise.Apply(new MinusScaledAndDifference(a, b), x, eps0, eps2, result);
    }

    // x − a·ε₀, each operation rounded to float in that order (the same bits at every vector width).
    private readonly struct MinusScaled(float a) : ElementWise.IOperator2
    {
        public T Invoke<T>(T x, T eps0) where T : struct, IFloatVector<T> => x - eps0 * a;
    }

    // x − a·ε₀ − b·(ε₁ − ε₀), as torch evaluates it left to right.
    private readonly struct MinusScaledAndDifference(float a, float b) : ElementWise.IOperator3
    {
        public T Invoke<T>(T x, T eps0, T eps1) where T : struct, IFloatVector<T> => x - eps0 * a - (eps1 - eps0) * b;
    }

    /// <summary>e^x − 1 rounded once to float (as C's <c>expm1f</c>), without the cancellation of small steps.</summary>
    public static float Expm1(float x)
    {
        // Kahan's trick in double, then one rounding: .NET's float.ExpM1 is Exp(x) − 1, which cancels for small x.
        double d = x, u = Math.Exp(d);
        if (u == 1) return x;
        var um1 = u - 1;
        return (float)(um1 == -1 ? -1 : um1 * d / Math.Log(u));
    }
}
