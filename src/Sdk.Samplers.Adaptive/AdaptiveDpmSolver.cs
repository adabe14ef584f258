using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Samplers.Adaptive;

/// <summary>The denoiser in σ-space: writes D(x, σ), the network's estimate of x₀ for the sample x = x₀ + σ·ε.</summary>
public delegate void SigmaDenoiser(ReadOnlySpan<float> x, double sigma, Span<float> denoised);

/// <summary>What an adaptive solve did.</summary>
/// <param name="Steps">Steps tried (accepted and rejected).</param>
/// <param name="Accepted">Steps accepted.</param>
/// <param name="Rejected">Steps rejected and retried with a smaller h.</param>
/// <param name="ModelEvaluations">Denoiser calls: <see cref="AdaptiveDpmSolverOptions.Order"/> per step tried, less one per rejection (its first evaluation is kept).</param>
/// <param name="Sigmas">σ after every accepted step, starting with σ_max.</param>
public sealed record AdaptiveSolveInfo(int Steps, int Accepted, int Rejected, int ModelEvaluations, IReadOnlyList<double> Sigmas);

/// <summary>
/// The adaptive DPM-Solver (<see cref="AdaptiveDpmIntegrator"/>) on a σ-space denoiser delegate, outside any pipeline:
/// for closed-form models, and for callers that hold D(x, σ) themselves. <see cref="DpmAdaptiveSampler"/> is the same
/// method as a sampler of the SDK's pipelines.
/// </summary>
public sealed class AdaptiveDpmSolver(AdaptiveDpmSolverOptions? options = null)
{
    private readonly AdaptiveDpmIntegrator _integrator = new(options);

    /// <summary>The settings.</summary>
    public AdaptiveDpmSolverOptions Options => _integrator.Options;

    /// <summary>Solves from σ_max to σ_min in place: <paramref name="x"/> holds x at σ_max and receives x at σ_min.</summary>
    /// <param name="denoiser">D(x, σ).</param>
    /// <param name="x">The sample at σ_max; receives the sample at σ_min.</param>
    /// <param name="sigmaMax">The starting noise level.</param>
    /// <param name="sigmaMin">The final noise level.</param>
    /// <param name="noise">Where the ancestral variant (η &gt; 0) draws its noise; unused at η = 0.</param>
    /// <param name="onAccepted">Called after every accepted step with σ and the new sample.</param>
    /// <param name="cancellationToken">Checked before every evaluation.</param>
    /// <exception cref="ArgumentOutOfRangeException">σ_min or σ_max is not positive, or σ_min ≥ σ_max.</exception>
    public AdaptiveSolveInfo Solve(SigmaDenoiser denoiser, float[] x, double sigmaMax, double sigmaMin, INoiseSource? noise = null,
        Action<double, float[]>? onAccepted = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(x);
        var run = _integrator;
        run.Begin(x, sigmaMax, sigmaMin);
        var denoised = new float[x.Length];
        while (!run.IsFinished)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var sigma = run.Propose(out var point);
            denoiser(point, sigma, denoised);
            if (run.Observe(denoised, noise) == AdaptiveStepResult.Accepted && onAccepted is not null)
            {
                run.Sample.CopyTo(x);
                onAccepted(run.Sigma, x);
            }
        }
        run.Sample.CopyTo(x);
        return new AdaptiveSolveInfo(run.Steps, run.Accepted, run.Rejected, run.Evaluations, run.Sigmas.ToArray());
    }
}
