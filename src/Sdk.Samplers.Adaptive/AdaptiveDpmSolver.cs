using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
namespace Diffusion.Sdk.Samplers.Adaptive;

/// <summary>The denoiser in σ-space: writes D(x, σ), the network's estimate of x₀ for the sample x = x₀ + σ·ε.</summary>
public delegate void SigmaDenoiser(ReadOnlySpan<float> x, double sigma, Span<float> denoised);

/// <summary>Settings of <see cref="AdaptiveDpmSolver"/> (k-diffusion's <c>sample_dpm_adaptive</c> defaults).</summary>
public sealed record AdaptiveDpmSolverOptions
{
    /// <summary>3: the DPM-Solver-2/3 pair (3 evaluations a step); 2: the DPM-Solver-1/2 pair (2).</summary>
    public int Order { get; init; } = 3;

    /// <summary>Relative tolerance of a step's local error.</summary>
    public double Rtol { get; init; } = 0.05;

    /// <summary>Absolute tolerance of a step's local error (in the sample's units; 0.0078 ≈ one 8-bit level of [−1, 1]).</summary>
    public double Atol { get; init; } = 0.0078;

    /// <summary>The first step size in t = −log σ.</summary>
    public double HInit { get; init; } = 0.05;

    /// <summary>The PID controller's proportional coefficient.</summary>
    public double PCoeff { get; init; }

    /// <summary>The PID controller's integral coefficient.</summary>
    public double ICoeff { get; init; } = 1;

    /// <summary>The PID controller's derivative coefficient.</summary>
    public double DCoeff { get; init; }

    /// <summary>A step is accepted when the controller's factor is at least this.</summary>
    public double AcceptSafety { get; init; } = 0.81;
}

/// <summary>What an adaptive solve did.</summary>
/// <param name="Steps">Steps tried (accepted and rejected).</param>
/// <param name="Accepted">Steps accepted.</param>
/// <param name="Rejected">Steps rejected and retried with a smaller h.</param>
/// <param name="ModelEvaluations">Denoiser calls: <see cref="AdaptiveDpmSolverOptions.Order"/> per step tried.</param>
/// <param name="Sigmas">σ after every accepted step, starting with σ_max.</param>
public sealed record AdaptiveSolveInfo(int Steps, int Accepted, int Rejected, int ModelEvaluations, IReadOnlyList<double> Sigmas);

/// <summary>
/// Adaptive-step DPM-Solver for the probability-flow ODE: Jolicoeur-Martineau et al. 2021 ("Gotta Go Fast When
/// Generating Data with Score-Based Models"), with the embedded DPM-Solver pairs (Lu et al. 2022, §3.3 and
/// Algorithms 1–2) in the form of k-diffusion's <c>sample_dpm_adaptive</c>. In t = −log σ, each step from s to
/// t = s + h computes a lower- and a higher-order solution from the same evaluations (orders 2 and 3 from three, or 1
/// and 2 from two), takes their difference scaled by δ = max(atol, rtol·max(|x_low|, |x_prev|)) as its error, and lets
/// the <see cref="PidStepSizeController"/> accept the step (moving to the higher-order solution) or reject it and
/// retry with a smaller h. Deterministic (η = 0): the ancestral variant is not built.
/// </summary>
public sealed class AdaptiveDpmSolver(AdaptiveDpmSolverOptions? options = null)
{
    /// <summary>The settings.</summary>
    public AdaptiveDpmSolverOptions Options { get; } = Check(options ?? new AdaptiveDpmSolverOptions());

    /// <summary>Solves from σ_max to σ_min in place: <paramref name="x"/> holds x at σ_max and receives x at σ_min.</summary>
    /// <exception cref="ArgumentOutOfRangeException">σ_min or σ_max is not positive, or σ_min ≥ σ_max.</exception>
    public AdaptiveSolveInfo Solve(SigmaDenoiser denoiser, float[] x, double sigmaMax, double sigmaMin, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(x);
        if (!(sigmaMin > 0)) throw new ArgumentOutOfRangeException(nameof(sigmaMin), sigmaMin, "σ_min must be > 0.");
        if (!(sigmaMax > sigmaMin)) throw new ArgumentOutOfRangeException(nameof(sigmaMax), sigmaMax, "σ_max must be > σ_min.");
        var o = Options;
        var n = x.Length;
        var b = new Buffers(n);
        x.CopyTo(b.Previous, 0);
        var pid = new PidStepSizeController(Math.Abs(o.HInit), o.PCoeff, o.ICoeff, o.DCoeff, o.Order, o.AcceptSafety);
        double s = -Math.Log(sigmaMax), tEnd = -Math.Log(sigmaMin);
        int steps = 0, accepted = 0, rejected = 0;
        var sigmas = new List<double> { sigmaMax };
        while (s < tEnd - 1e-5)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var t = Math.Min(tEnd, s + pid.H);
            Eps(denoiser, x, s, b.Eps0, b.Denoised); // the same evaluation serves both solutions
            if (o.Order == 2)
            {
                FirstOrder(x, s, t, b.Eps0, b.Low);
                SecondOrder(denoiser, x, s, t, 0.5, b, b.High);
            }
            else
            {
                SecondOrder(denoiser, x, s, t, 1.0 / 3, b, b.Low);
                ThirdOrder(denoiser, x, s, t, b, b.High); // reuses the r₁ = 1/3 stage SecondOrder left in b.Eps1
            }
            var error = ScaledError(b.Low, b.High, b.Previous, o.Atol, o.Rtol);
            steps++;
            if (pid.Propose(error))
            {
                b.Low.CopyTo(b.Previous, 0);
                b.High.CopyTo(x, 0);
                s = t;
                accepted++;
                sigmas.Add(Math.Exp(-s));
            }
            else
            {
                rejected++;
            }
        }
        return new AdaptiveSolveInfo(steps, accepted, rejected, steps * o.Order, sigmas);
    }

    private sealed class Buffers(int n)
    {
        public readonly float[] Eps0 = new float[n], Eps1 = new float[n], Eps2 = new float[n], Stage = new float[n], Denoised = new float[n];
        public readonly float[] Low = new float[n], High = new float[n], Previous = new float[n];
    }

    // ε̂(x, t) = (x − D(x, σ))/σ with σ = e^(−t).
    private static void Eps(SigmaDenoiser denoiser, ReadOnlySpan<float> x, double t, Span<float> eps, Span<float> denoised)
    {
        var sigma = Math.Exp(-t);
        denoiser(x, sigma, denoised);
        for (var i = 0; i < x.Length; i++) eps[i] = (float)((x[i] - denoised[i]) / sigma);
    }

    // DPM-Solver-1 (DDIM): x_t = x_s − σ_t·(e^h − 1)·ε̂_s.
    private static void FirstOrder(ReadOnlySpan<float> x, double s, double t, ReadOnlySpan<float> eps0, Span<float> result)
    {
        var c = Math.Exp(-t) * Expm1(t - s);
        for (var i = 0; i < x.Length; i++) result[i] = (float)(x[i] - c * eps0[i]);
    }

    // DPM-Solver-2 with an intermediate stage at s + r₁h (Lu et al. 2022, Algorithm 1); leaves ε̂ at the stage in Eps1.
    private static void SecondOrder(SigmaDenoiser denoiser, ReadOnlySpan<float> x, double s, double t, double r1, Buffers b, Span<float> result)
    {
        var h = t - s;
        var s1 = s + r1 * h;
        var c1 = Math.Exp(-s1) * Expm1(r1 * h);
        for (var i = 0; i < x.Length; i++) b.Stage[i] = (float)(x[i] - c1 * b.Eps0[i]);
        Eps(denoiser, b.Stage, s1, b.Eps1, b.Denoised);
        double sigmaT = Math.Exp(-t), e = Expm1(h);
        for (var i = 0; i < x.Length; i++)
            result[i] = (float)(x[i] - sigmaT * e * b.Eps0[i] - sigmaT / (2 * r1) * e * (b.Eps1[i] - (double)b.Eps0[i]));
    }

    // DPM-Solver-3 with stages at s + h/3 and s + 2h/3 (Lu et al. 2022, Algorithm 2); the first stage is SecondOrder's.
    private static void ThirdOrder(SigmaDenoiser denoiser, ReadOnlySpan<float> x, double s, double t, Buffers b, Span<float> result)
    {
        const double r1 = 1.0 / 3, r2 = 2.0 / 3;
        var h = t - s;
        var s2 = s + r2 * h;
        double sigma2 = Math.Exp(-s2), e2 = Expm1(r2 * h);
        for (var i = 0; i < x.Length; i++)
            b.Stage[i] = (float)(x[i] - sigma2 * e2 * b.Eps0[i] - sigma2 * (r2 / r1) * (e2 / (r2 * h) - 1) * (b.Eps1[i] - (double)b.Eps0[i]));
        Eps(denoiser, b.Stage, s2, b.Eps2, b.Denoised);
        double sigmaT = Math.Exp(-t), e = Expm1(h);
        for (var i = 0; i < x.Length; i++)
            result[i] = (float)(x[i] - sigmaT * e * b.Eps0[i] - sigmaT / r2 * (e / h - 1) * (b.Eps2[i] - (double)b.Eps0[i]));
    }

    // e^x − 1 without the cancellation of small steps (Kahan's trick; .NET's double.ExpM1 is Exp(x) − 1).
    private static double Expm1(double x)
    {
        var u = Math.Exp(x);
        if (u == 1) return x;
        var um1 = u - 1;
        return um1 == -1 ? -1 : um1 * x / Math.Log(u);
    }

    // ‖(x_low − x_high)/δ‖₂/√n with δ = max(atol, rtol·max(|x_low|, |x_prev|)), summed in element order.
    private static double ScaledError(ReadOnlySpan<float> low, ReadOnlySpan<float> high, ReadOnlySpan<float> previous, double atol, double rtol)
    {
        var sum = 0.0;
        for (var i = 0; i < low.Length; i++)
        {
            var delta = Math.Max(atol, rtol * Math.Max(Math.Abs(low[i]), Math.Abs(previous[i])));
            var r = (low[i] - (double)high[i]) / delta;
            sum += r * r;
        }
        return Math.Sqrt(sum / low.Length);
    }

    private static AdaptiveDpmSolverOptions Check(AdaptiveDpmSolverOptions o)
    {
        if (o.Order is not (2 or 3)) throw new SamplingOptionException(nameof(o.Order), o.Order.ToString(System.Globalization.CultureInfo.InvariantCulture), "2 (DPM-Solver-1/2) or 3 (DPM-Solver-2/3)");
        if (!(o.Rtol > 0) || !double.IsFinite(o.Rtol)) throw new SamplingOptionException(nameof(o.Rtol), o.Rtol.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "a finite number > 0");
        if (!(o.Atol > 0) || !double.IsFinite(o.Atol)) throw new SamplingOptionException(nameof(o.Atol), o.Atol.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "a finite number > 0");
        if (!(o.HInit != 0) || !double.IsFinite(o.HInit)) throw new SamplingOptionException(nameof(o.HInit), o.HInit.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "a finite, non-zero step in log σ, e.g. 0.05");
        if (!(o.AcceptSafety > 0 && o.AcceptSafety <= 1)) throw new SamplingOptionException(nameof(o.AcceptSafety), o.AcceptSafety.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "a number in (0, 1]");
        return o;
    }
}
