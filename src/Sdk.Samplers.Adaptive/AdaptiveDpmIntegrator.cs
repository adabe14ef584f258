using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Adaptive;

/// <summary>
/// Adaptive-step DPM-Solver for the probability-flow ODE in σ-space (x = x₀ + σ·ε), driven by asking for the
/// denoiser D(x, σ) one evaluation at a time: Jolicoeur-Martineau et al. 2021 ("Gotta Go Fast When Generating Data
/// with Score-Based Models") with the embedded DPM-Solver pairs of Lu et al. 2022 (§3.3, Algorithms 1–2), in the
/// form of k-diffusion's <c>sample_dpm_adaptive</c>.
/// </summary>
/// <remarks>
/// In t = −log σ, a step from s to t = s + h computes a lower- and a higher-order solution from the same evaluations
/// (orders 2 and 3 from three, or 1 and 2 from two), takes their difference scaled by
/// δ = max(atol, rtol·max(|x_low|, |x_prev|)) as its error, and lets the <see cref="PidStepSizeController"/> accept
/// the step (moving to the higher-order solution) or reject it. A rejected step is retried from the same sample, so
/// its first evaluation, D at (x, s), is kept rather than recomputed: one evaluation fewer per rejection than
/// k-diffusion, which recomputes it, with the same result.
/// </remarks>
public sealed class AdaptiveDpmIntegrator
{
    private readonly AdaptiveDpmSolverOptions _options;
    private readonly PidStepSizeController _pid;
    private float[] _x = [], _previous = [], _eps0 = [], _eps1 = [], _eps2 = [], _stage = [], _low = [], _high = [], _noise = [];
    // In t = −log σ, float32 as k-diffusion holds them (0-dimensional float32 tensors).
    private float _s, _tEnd, _t, _tTarget, _sigmaUp, _pointSigma, _atol, _rtol;
    private int _stageIndex; // 0: D at (x, s) needed; 1: at the first intermediate stage; 2: at the second
    private bool _eps0Valid, _awaiting, _begun;
    private readonly List<double> _sigmas = [];

    /// <summary>Creates the integrator.</summary>
    /// <exception cref="SamplingOptionException">A setting is out of its range.</exception>
    public AdaptiveDpmIntegrator(AdaptiveDpmSolverOptions? options = null)
    {
        var o = _options = (options ?? new AdaptiveDpmSolverOptions()).Validate();
        // The ancestral variant's pair is treated as order 1.5 by the controller, as k-diffusion does.
        _pid = new PidStepSizeController(Math.Abs(o.HInit), o.PCoeff, o.ICoeff, o.DCoeff, o.Eta > 0 ? 1.5 : o.Order, o.AcceptSafety);
    }

    /// <summary>The settings.</summary>
    public AdaptiveDpmSolverOptions Options => _options;

    /// <summary>The current sample (x at <see cref="Sigma"/>).</summary>
    public ReadOnlySpan<float> Sample => _x;

    /// <summary>The point the pending proposal asked D for (the current sample, or an intermediate stage).</summary>
    public ReadOnlySpan<float> ProposedPoint => _awaiting ? (_stageIndex == 0 ? _x : _stage) : throw new SamplerStateException("No evaluation was proposed: call Propose first.");

    /// <summary>σ of the current sample.</summary>
    public double Sigma => DpmSolver.Sigma(_s);

    /// <summary>Whether the run has reached its last σ.</summary>
    public bool IsFinished => _begun && !(_s < _tEnd - 1e-5f);

    /// <summary>Steps tried (accepted and rejected).</summary>
    public int Steps { get; private set; }

    /// <summary>Steps accepted.</summary>
    public int Accepted { get; private set; }

    /// <summary>Steps rejected and retried with a smaller h.</summary>
    public int Rejected { get; private set; }

    /// <summary>Denoiser evaluations observed.</summary>
    public int Evaluations { get; private set; }

    /// <summary>The scaled error of the last step tried.</summary>
    public double LastError { get; private set; }

    /// <summary>σ after every accepted step, starting with the first σ.</summary>
    public IReadOnlyList<double> Sigmas => _sigmas;

    /// <summary>Starts a run from <paramref name="x"/> at <paramref name="sigmaStart"/> down to <paramref name="sigmaEnd"/>; keeps a copy of x.</summary>
    /// <exception cref="ArgumentOutOfRangeException">σ_end is not positive, or σ_end ≥ σ_start.</exception>
    public void Begin(ReadOnlySpan<float> x, double sigmaStart, double sigmaEnd)
    {
        if (!(sigmaEnd > 0) || !double.IsFinite(sigmaEnd)) throw new ArgumentOutOfRangeException(nameof(sigmaEnd), sigmaEnd, "σ_end must be a finite number > 0.");
        if (!(sigmaStart > sigmaEnd) || !double.IsFinite(sigmaStart)) throw new ArgumentOutOfRangeException(nameof(sigmaStart), sigmaStart, "σ_start must be finite and above σ_end.");
        if (_x.Length != x.Length)
        {
            _x = new float[x.Length]; _previous = new float[x.Length]; _eps0 = new float[x.Length]; _eps1 = new float[x.Length];
            _eps2 = new float[x.Length]; _stage = new float[x.Length]; _low = new float[x.Length]; _high = new float[x.Length];
            _noise = _options.Eta > 0 ? new float[x.Length] : [];
        }
        x.CopyTo(_x);
        x.CopyTo(_previous);
        var o = _options;
        _pid.Reset(Math.Abs(o.HInit));
        (_s, _tEnd) = (-MathF.Log((float)sigmaStart), -MathF.Log((float)sigmaEnd));
        (_atol, _rtol) = ((float)o.Atol, (float)o.Rtol);
        (_stageIndex, _eps0Valid, _awaiting, _begun) = (0, false, false, true);
        Steps = Accepted = Rejected = Evaluations = 0;
        LastError = 0;
        _sigmas.Clear();
        _sigmas.Add(sigmaStart);
    }

    /// <summary>Where D is needed next: its σ, and the point x to evaluate it at (valid until <see cref="Observe"/>).</summary>
    /// <exception cref="SamplerStateException">No run was begun, it is finished, or the previous proposal was not observed.</exception>
    public double Propose(out ReadOnlySpan<float> point)
    {
        if (!_begun) throw new SamplerStateException("The adaptive run has not begun: call Begin with the initial sample first.");
        if (_awaiting) throw new SamplerStateException("The previous evaluation was not observed: pass its denoiser output to Observe before asking for the next.");
        if (IsFinished) throw new SamplerStateException("The adaptive run has reached its last σ: there is nothing left to evaluate.");
        if (_stageIndex == 0)
        {
            StartStep();
            if (_eps0Valid) FirstStage(); // a retry after a rejection: D at (x, s) is already known
        }
        _awaiting = true;
        point = _stageIndex == 0 ? _x : _stage;
        return _pointSigma = _stageIndex == 0 ? DpmSolver.Sigma(_s) : _pointSigma;
    }

    /// <summary>Takes D at the proposed point; completes the step when it has all its evaluations.</summary>
    /// <param name="denoised">D(point, σ) of the last <see cref="Propose"/>.</param>
    /// <param name="noise">The ancestral variant's source of fresh noise (η &gt; 0); unused otherwise.</param>
    /// <exception cref="SamplerStateException">Nothing was proposed, or η &gt; 0 and no noise source was given.</exception>
    /// <exception cref="DiffusionException">The step's error estimate is not finite (the denoiser overflowed).</exception>
    public AdaptiveStepResult Observe(ReadOnlySpan<float> denoised, INoiseSource? noise = null)
    {
        if (!_awaiting) throw new SamplerStateException("No evaluation was proposed: call Propose before Observe.");
        if (denoised.Length != _x.Length) throw new ArgumentException($"The denoiser output has {denoised.Length} values; the sample has {_x.Length}.", nameof(denoised));
        _awaiting = false;
        Evaluations++;
        switch (_stageIndex)
        {
            case 0:
                Eps(_x, denoised, _pointSigma, _eps0);
                _eps0Valid = true;
                FirstStage();
                return AdaptiveStepResult.Pending;
            case 1:
                Eps(_stage, denoised, _pointSigma, _eps1);
                if (_options.Order == 2)
                {
                    DpmSolver.Second(_x, _s, _tTarget, 0.5, _eps0, _eps1, _high);
                    return Finish(noise);
                }
                DpmSolver.Second(_x, _s, _tTarget, 1.0 / 3, _eps0, _eps1, _low);
                _pointSigma = DpmSolver.ThirdStage(_x, _s, _tTarget, _eps0, _eps1, _stage);
                _stageIndex = 2;
                return AdaptiveStepResult.Pending;
            default:
                Eps(_stage, denoised, _pointSigma, _eps2);
                DpmSolver.Third(_x, _s, _tTarget, _eps0, _eps2, _high);
                return Finish(noise);
        }
    }

    // The step's end t = min(t_end, s + h); the ancestral variant solves down to σ_down and adds σ_up of noise.
    private void StartStep()
    {
        _t = MathF.Min(_tEnd, _s + (float)_pid.H);
        (_tTarget, _sigmaUp) = (_t, 0);
        if (_options.Eta > 0)
        {
            // k-diffusion's get_ancestral_step: σ_up = min(σ_to, η·√(σ_to²(σ_from² − σ_to²)/σ_from²)), σ_down = √(σ_to² − σ_up²).
            float sigmaFrom = DpmSolver.Sigma(_s), sigmaTo = DpmSolver.Sigma(_t);
            var up = MathF.Min(sigmaTo, (float)_options.Eta * MathF.Sqrt(sigmaTo * sigmaTo * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo) / (sigmaFrom * sigmaFrom)));
            var down = MathF.Sqrt(sigmaTo * sigmaTo - up * up);
            _tTarget = MathF.Min(_tEnd, -MathF.Log(down));
            var sigmaTarget = DpmSolver.Sigma(_tTarget);
            _sigmaUp = MathF.Sqrt(sigmaTo * sigmaTo - sigmaTarget * sigmaTarget);
        }
    }

    // After ε̂ at (x, s): the order-2 pair's first-order solution, and the first intermediate stage of either pair.
    private void FirstStage()
    {
        if (_options.Order == 2) DpmSolver.First(_x, _s, _tTarget, _eps0, _low);
        _pointSigma = DpmSolver.SecondStage(_x, _s, _tTarget, _options.Order == 2 ? 0.5f : 1f / 3, _eps0, _stage);
        _stageIndex = 1;
    }

    private AdaptiveStepResult Finish(INoiseSource? noise)
    {
        _stageIndex = 0;
        Steps++;
        var error = ScaledError(_low, _high, _previous, _atol, _rtol);
        LastError = error;
        if (!double.IsFinite(error))
            throw new DiffusionException($"The adaptive step's error estimate is {error} at σ = {Sigma:G4}: the denoiser's output overflowed. Check the model, or lower the guidance scale.");
        if (!_pid.Propose(error))
        {
            Rejected++;
            return AdaptiveStepResult.Rejected;
        }
        _low.CopyTo(_previous, 0);
        _high.CopyTo(_x, 0);
        if (_sigmaUp > 0 && _options.SNoise > 0)
        {
            if (noise is null) throw new SamplerStateException("The ancestral variant (η > 0) needs a noise source: pass one to Observe.");
            noise.NextGaussian(_noise);
            ElementWise.Apply(new PlusScaled(_sigmaUp * (float)_options.SNoise), _x, _noise, _x);
        }
        _s = _t;
        _eps0Valid = false;
        Accepted++;
        _sigmas.Add(Sigma);
        return AdaptiveStepResult.Accepted;
    }

    // ε̂ = (x − D(x, σ))/σ, as k-diffusion derives it from the denoiser (float32: a difference, then a quotient).
    private static void Eps(ReadOnlySpan<float> x, ReadOnlySpan<float> denoised, float sigma, Span<float> eps)
    {
        ElementWise.Apply(new Epsilon(sigma), x, denoised, eps);
    }

    private readonly struct Epsilon(float sigma) : ElementWise.IOperator2
    {
        public T Invoke<T>(T x, T denoised) where T : struct, IFloatVector<T> => (x - denoised) / sigma;
    }

    private readonly struct PlusScaled(float scale) : ElementWise.IOperator2
    {
        public T Invoke<T>(T x, T noise) where T : struct, IFloatVector<T> => x + noise * scale;
    }

    // ‖(x_low − x_high)/δ‖₂/√n with δ = max(atol, rtol·max(|x_low|, |x_prev|)): the ratios in float32 as torch forms
    // them, their squares summed in double in element order (the same on every machine), the result rounded to float.
    private static double ScaledError(ReadOnlySpan<float> low, ReadOnlySpan<float> high, ReadOnlySpan<float> previous, float atol, float rtol)
    {
        var sum = 0.0;
        for (var i = 0; i < low.Length; i++)
        {
            var delta = MathF.Max(atol, rtol * MathF.Max(MathF.Abs(low[i]), MathF.Abs(previous[i])));
            double r = (low[i] - high[i]) / delta;
            sum += r * r;
        }
        return (float)Math.Sqrt(sum) / (float)Math.Sqrt(low.Length);
    }
}
