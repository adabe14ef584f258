using System.Globalization;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Samplers.Adaptive;

/// <summary>
/// Settings of the adaptive DPM-Solver, with k-diffusion's <c>sample_dpm_adaptive</c> defaults. In a
/// <c>scheduler_config.json</c> (or <see cref="SchedulerConfig.AdditionalKeys"/>) they are the keys <c>order</c>,
/// <c>rtol</c>, <c>atol</c>, <c>h_init</c>, <c>pcoeff</c>, <c>icoeff</c>, <c>dcoeff</c>, <c>accept_safety</c>,
/// <c>eta</c> and <c>s_noise</c>, k-diffusion's parameter names.
/// </summary>
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

    /// <summary>
    /// The ancestral variant's η in [0, 1]: 0 solves the probability-flow ODE; above 0 each step goes down to
    /// σ_down and adds fresh noise back up to the step's σ (k-diffusion's <c>get_ancestral_step</c>), and the
    /// controller then treats the pair as order 1.5.
    /// </summary>
    public double Eta { get; init; }

    /// <summary>The scale of the noise the ancestral variant adds (k-diffusion's <c>s_noise</c>).</summary>
    public double SNoise { get; init; } = 1;

    /// <summary>Throws <see cref="SamplingOptionException"/> naming the first setting outside its range.</summary>
    public AdaptiveDpmSolverOptions Validate()
    {
        if (Order is not (2 or 3)) Fail(nameof(Order), Order, "2 (DPM-Solver-1/2) or 3 (DPM-Solver-2/3)");
        if (!(Rtol > 0) || !double.IsFinite(Rtol)) Fail(nameof(Rtol), Rtol, "a finite number > 0, e.g. 0.05");
        if (!(Atol > 0) || !double.IsFinite(Atol)) Fail(nameof(Atol), Atol, "a finite number > 0, e.g. 0.0078");
        if (!(HInit != 0) || !double.IsFinite(HInit)) Fail(nameof(HInit), HInit, "a finite, non-zero step in log σ, e.g. 0.05");
        if (!double.IsFinite(PCoeff)) Fail(nameof(PCoeff), PCoeff, "a finite number");
        if (!double.IsFinite(ICoeff)) Fail(nameof(ICoeff), ICoeff, "a finite number");
        if (!double.IsFinite(DCoeff)) Fail(nameof(DCoeff), DCoeff, "a finite number");
        if (!(AcceptSafety > 0 && AcceptSafety <= 1)) Fail(nameof(AcceptSafety), AcceptSafety, "a number in (0, 1]");
        if (!(Eta >= 0 && Eta <= 1)) Fail(nameof(Eta), Eta, "a number in [0, 1] (0 = the probability-flow ODE)");
        if (!(SNoise >= 0) || !double.IsFinite(SNoise)) Fail(nameof(SNoise), SNoise, "a finite number >= 0");
        return this;
    }

    private static void Fail(string option, double value, string allowed) =>
        throw new SamplingOptionException(option, value.ToString("R", CultureInfo.InvariantCulture), allowed);
}
