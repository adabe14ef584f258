namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// A sampler that chooses its own steps (adaptive step size) instead of following a schedule fixed in advance. It
/// asks for the network at points it picks; once a step has the evaluations it needs, it estimates the step's error
/// and either accepts it (the sample moves to a lower noise level σ) or rejects it (the next try is a smaller step).
/// </summary>
/// <remarks>
/// <para>
/// The loop that drives it (<c>SamplingLoop</c> does) is ask and tell: <see cref="Begin"/> with x_T, then, until
/// <see cref="IsFinished"/>, <see cref="NextEvaluation"/> → the network → <see cref="Observe"/>. The count given to
/// <see cref="ISampler.SetTimesteps(int)"/> is not used: the tolerances set how many steps a run takes.
/// <see cref="ISampler.Step"/> is not how it advances, and image-to-image (<see cref="ISampler.SetBeginIndex"/> past 0)
/// has no schedule to start part-way into; both raise <see cref="SamplerStateException"/>.
/// </para>
/// <para>
/// <see cref="ISampler.Timesteps"/> lists the timestep each accepted step started from, so after a run it holds
/// the timesteps visited, as a fixed-schedule sampler's list does.
/// </para>
/// </remarks>
public interface IAdaptiveSampler : ISampler
{
    /// <summary>The noise level the run starts from (x_T has standard deviation <see cref="ISampler.InitNoiseSigma"/>, equal to it).</summary>
    double SigmaStart { get; }

    /// <summary>The noise level the run ends at.</summary>
    double SigmaEnd { get; }

    /// <summary>The noise level of the current sample: <see cref="SigmaStart"/> before the first accepted step.</summary>
    double Sigma { get; }

    /// <summary>Whether the run has reached <see cref="SigmaEnd"/>.</summary>
    bool IsFinished { get; }

    /// <summary>Steps accepted so far in this run.</summary>
    int AcceptedSteps { get; }

    /// <summary>Steps rejected so far in this run (each retried with a smaller step).</summary>
    int RejectedSteps { get; }

    /// <summary>Starts a run from <paramref name="sample"/>, the initial noise at <see cref="SigmaStart"/> (the sampler keeps its own copy).</summary>
    /// <param name="sample">x_T, flattened NCHW.</param>
    /// <param name="batchSize">How many items it holds.</param>
    /// <exception cref="SamplerStateException">The range was not set (<see cref="ISampler.SetTimesteps(int)"/>).</exception>
    void Begin(ReadOnlySpan<float> sample, int batchSize);

    /// <summary>Where the network is needed next: writes its input (scaled as the network expects) and returns the timestep to evaluate it at.</summary>
    /// <param name="modelInput">Receives the network input; the same length as the sample.</param>
    /// <exception cref="SamplerStateException">No run was begun, the run is finished, or the previous proposal was not observed.</exception>
    double NextEvaluation(Span<float> modelInput);

    /// <summary>
    /// Takes the network output for the evaluation <see cref="NextEvaluation"/> proposed. When the step needs more
    /// evaluations it returns <see cref="AdaptiveStepResult.Pending"/>; when the step is complete it accepts it
    /// (writing the new sample to <paramref name="sample"/>) or rejects it (leaving <paramref name="sample"/> as it was).
    /// </summary>
    /// <param name="modelOutput">The network output (ε, x₀ or v, as the configuration's prediction type says).</param>
    /// <param name="sample">The caller's copy of the current sample; receives the new one when a step is accepted.</param>
    /// <param name="noise">Where an ancestral (η &gt; 0) variant draws the noise it adds after an accepted step.</param>
    /// <exception cref="SamplerStateException">No evaluation was proposed.</exception>
    AdaptiveStepResult Observe(ReadOnlySpan<float> modelOutput, Span<float> sample, INoiseSource noise);
}

/// <summary>What an adaptive sampler did with a network output.</summary>
public enum AdaptiveStepResult
{
    /// <summary>The step needs more network evaluations.</summary>
    Pending,

    /// <summary>The step was accepted: the sample moved to a lower σ.</summary>
    Accepted,

    /// <summary>The step's error was too large: it is retried with a smaller step from the same sample.</summary>
    Rejected,
}
