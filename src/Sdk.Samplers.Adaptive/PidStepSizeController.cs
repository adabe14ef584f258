using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
namespace Diffusion.Sdk.Samplers.Adaptive;

/// <summary>
/// The PID step-size controller of Jolicoeur-Martineau et al. 2021 ("Gotta Go Fast When Generating Data with
/// Score-Based Models", §3) in the form k-diffusion uses: from the scaled error ε of a step it proposes the next step
/// size h ← h·φ with φ = limiter(ε₀^−β₁ · ε₁^−β₂ · ε₂^−β₃) over the last three accepted errors, and accepts the step
/// when φ ≥ the safety factor. With the default coefficients (P 0, I 1, D 0) it is the classical integral
/// controller h ← h·ε^(−1/order).
/// </summary>
public sealed class PidStepSizeController
{
    private readonly double _b1, _b2, _b3, _acceptSafety;
    private const double Eps = 1e-8; // keeps 1/ε finite for an exact step
    private double _e0, _e1, _e2;
    private bool _started;

    /// <summary>Creates the controller.</summary>
    /// <param name="h">The first step size, in log-σ (t = −log σ).</param>
    /// <param name="pcoeff">Proportional coefficient.</param>
    /// <param name="icoeff">Integral coefficient.</param>
    /// <param name="dcoeff">Derivative coefficient.</param>
    /// <param name="order">The order of the lower method of the pair's error (divides the coefficients).</param>
    /// <param name="acceptSafety">A step is accepted when the proposed factor is at least this.</param>
    public PidStepSizeController(double h, double pcoeff, double icoeff, double dcoeff, double order, double acceptSafety)
    {
        H = h;
        _b1 = (pcoeff + icoeff + dcoeff) / order;
        _b2 = -(pcoeff + 2 * dcoeff) / order;
        _b3 = dcoeff / order;
        _acceptSafety = acceptSafety;
    }

    /// <summary>Starts again from step size <paramref name="h"/>, forgetting every error seen (a new run).</summary>
    public void Reset(double h)
    {
        H = h;
        (_e0, _e1, _e2, _started) = (0, 0, 0, false);
    }

    /// <summary>The step size the next step tries.</summary>
    public double H { get; private set; }

    /// <summary>Takes the scaled error of the step just tried; returns whether to accept it, and updates <see cref="H"/>.</summary>
    public bool Propose(double error)
    {
        var inverse = 1 / (error + Eps);
        if (!_started) (_e1, _e2, _started) = (inverse, inverse, true);
        _e0 = inverse;
        var factor = Limiter(Math.Pow(_e0, _b1) * Math.Pow(_e1, _b2) * Math.Pow(_e2, _b3));
        var accept = factor >= _acceptSafety;
        if (accept) (_e2, _e1) = (_e1, _e0);
        H *= factor;
        return accept;
    }

    // A smooth limiter, 1 + atan(φ − 1): for φ ≥ 0 the factor stays within [1 − π/4, 1 + π/2) ≈ [0.21, 2.57).
    private static double Limiter(double factor) => 1 + Math.Atan(factor - 1);
}
