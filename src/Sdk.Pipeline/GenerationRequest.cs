using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Pipeline;

/// <summary>Called after every step with the step's description and the current latents (valid only during the call).</summary>
public delegate void StepCallback(StepInfo step, ReadOnlySpan<float> latents);

/// <summary>What to generate: one batch from one model.</summary>
public sealed class GenerationRequest
{
    /// <summary>
    /// The sampler, steps, guidance and wrappers. When the model ships a scheduler configuration it defines the noise
    /// schedule and prediction type, and the schedule fields here are ignored; for a bare model they describe it.
    /// </summary>
    public SamplingOptions Sampling { get; init; } = new();

    /// <summary>Images to generate in one batch.</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>Seed of every random draw (initial noise, stochastic steps, noise injection).</summary>
    public ulong Seed { get; init; }

    /// <summary>One class label for every item of a class-conditional model (null: <see cref="ClassLabels"/>, or unconditional).</summary>
    public long? ClassLabel { get; init; }

    /// <summary>A class label per item; overrides <see cref="ClassLabel"/>.</summary>
    public IReadOnlyList<long>? ClassLabels { get; init; }

    /// <summary>Conditioning embeddings for a text-conditioned model: one item's values (repeated) or the whole batch's.</summary>
    public float[]? EncoderHiddenStates { get; init; }

    /// <summary>The embeddings that mean "no condition" (one item's), for guidance on a text-conditioned model.</summary>
    public float[]? UnconditionalHiddenStates { get; init; }

    /// <summary>Height of the sample for models whose height is not fixed.</summary>
    public int? Height { get; init; }

    /// <summary>Width of the sample for models whose width is not fixed.</summary>
    public int? Width { get; init; }

    /// <summary>Image-to-image: the start image(s) in the model's sample space ([−1, 1]), one item (used for every item) or the whole batch.</summary>
    public float[]? InitImage { get; init; }

    /// <summary>Image-to-image: how much of the schedule to run, in (0, 1]; 1 ignores the start image's content entirely.</summary>
    public double Strength { get; init; } = 1.0;

    /// <summary>Receives the latents after every step (for previews); it must not keep the span.</summary>
    public StepCallback? OnStep { get; init; }

    /// <summary>Collect min, max, mean and standard deviation of the sample and the model output at every step.</summary>
    public bool CollectStatistics { get; init; }

    /// <summary>
    /// Run several samplers from the same initial noise and conditioning and return the weighted mean of their final
    /// latents (null: one sampler, <see cref="SamplingOptions.Sampler"/>). Each member runs with <see cref="Sampling"/>,
    /// its sampler name replaced by the member's; progress and <see cref="OnStep"/> count the members' steps one after another.
    /// </summary>
    public SamplerEnsemble? Ensemble { get; init; }
}

/// <summary>Progress of a generation, reported once per step (an adaptive sampler's: once per step tried, accepted or rejected).</summary>
/// <param name="Step">Steps done (1-based; an adaptive sampler's accepted steps).</param>
/// <param name="TotalSteps">Steps in this run; null when the sampler chooses its own steps (then <see cref="Sigma"/> and <see cref="Fraction"/> tell how far it is).</param>
/// <param name="Timestep">The timestep just processed.</param>
/// <param name="Elapsed">Time since the run started.</param>
public readonly record struct GenerationProgress(int Step, int? TotalSteps, double Timestep, TimeSpan Elapsed)
{
    /// <summary>The current sample's noise level, for samplers that work in σ (sigma-space and adaptive ones); null otherwise.</summary>
    public double? Sigma { get; init; }

    /// <summary>Network evaluations made so far in this generation (an ensemble's: all members').</summary>
    public int ModelEvaluations { get; init; }

    /// <summary>Steps an adaptive sampler rejected so far (each retried with a smaller step); 0 for fixed schedules.</summary>
    public int RejectedSteps { get; init; }

    /// <summary>How far the run is, in [0, 1]: steps done ÷ steps, or for an adaptive sampler log(σ_start/σ) ÷ log(σ_start/σ_end).</summary>
    public double Fraction { get; init; }
}

/// <summary>One step, as the per-step callback sees it.</summary>
/// <param name="Index">0-based step index.</param>
/// <param name="TotalSteps">Steps in this run; null when the sampler chooses its own steps.</param>
/// <param name="Timestep">The step's timestep (an adaptive sampler's: the timestep of the step's last evaluation).</param>
public readonly record struct StepInfo(int Index, int? TotalSteps, double Timestep)
{
    /// <summary>The noise level of the latents passed with it, where the sampler knows it (sigma-space and adaptive samplers).</summary>
    public double? Sigma { get; init; }
}

/// <summary>Summary statistics of one tensor.</summary>
public readonly record struct TensorStatistics(float Min, float Max, float Mean, float Std);

/// <summary>Statistics of one step, collected when <see cref="GenerationRequest.CollectStatistics"/> is set.</summary>
/// <param name="Index">0-based step index (an adaptive sampler's: 0-based model evaluation).</param>
/// <param name="Timestep">The step's timestep.</param>
/// <param name="Sample">The sample the model saw (after input scaling).</param>
/// <param name="ModelOutput">The (guided) model output.</param>
public sealed record StepStatistics(int Index, double Timestep, TensorStatistics Sample, TensorStatistics ModelOutput);

/// <summary>A finished generation.</summary>
public sealed class GenerationResult
{
    /// <summary>The final samples, NCHW, in the model's sample space (images in [−1, 1] for pixel-space models).</summary>
    public required float[] Latents { get; init; }

    /// <summary>Shape of <see cref="Latents"/>.</summary>
    public required Diffusion.Sdk.Abstractions.TensorShape Shape { get; init; }

    /// <summary>The sampler that ran (its name, wrappers included, and timesteps).</summary>
    public required string SamplerName { get; init; }

    /// <summary>The timesteps visited.</summary>
    public required IReadOnlyList<double> Timesteps { get; init; }

    /// <summary>Calls made to the network (guidance may batch two passes into one call).</summary>
    public required int ModelEvaluations { get; init; }

    /// <summary>Wall-clock time of the run.</summary>
    public required TimeSpan Elapsed { get; init; }

    /// <summary>Steps an adaptive sampler rejected and retried smaller (0 for a fixed schedule); its accepted steps are <see cref="Timesteps"/>' count.</summary>
    public int RejectedSteps { get; init; }

    /// <summary>Per-step statistics, when requested.</summary>
    public IReadOnlyList<StepStatistics>? Statistics { get; init; }

    /// <summary>
    /// For an ensemble (<see cref="GenerationRequest.Ensemble"/>): each member's own result, in member order; the
    /// ensemble's <see cref="ModelEvaluations"/> is their sum. Null for a single sampler.
    /// </summary>
    public IReadOnlyList<GenerationResult>? Members { get; init; }
}

/// <summary>
/// A NaN, an infinity or a value beyond ±1e18 (where squares overflow float) appeared during sampling: the run
/// stops at the first one.
/// </summary>
public sealed class NonFiniteValueException(int step, double timestep, string tensor, int index, float value)
    : DiffusionException($"Step {step} (timestep {timestep:0.###}): the {tensor} holds {value.ToString(System.Globalization.CultureInfo.InvariantCulture)} at element {index}" +
                         (float.IsFinite(value) ? $", beyond the ±{TensorChecks.MaxMagnitude:0e0} a converging run stays within. " : ". ") +
                         "The model or the sampler settings diverged; try fewer guidance, another sampler, or check the model's prediction type.")
{
    /// <summary>0-based step index.</summary>
    public int Step { get; } = step;

    /// <summary>Which tensor: "model output" or "sample".</summary>
    public string Tensor { get; } = tensor;
}
