namespace Diffusion.Sdk.Abstractions;

/// <summary>What one sampler step consumes. Build one per step; it only refers to the caller's buffers.</summary>
public readonly ref struct StepInput
{
    /// <summary>Describes a step of a batch of <paramref name="batchSize"/> samples.</summary>
    /// <param name="modelOutput">The network output for <paramref name="sample"/> at <paramref name="timestep"/>.</param>
    /// <param name="timestep">The timestep the network was evaluated at.</param>
    /// <param name="sample">The current sample x_t (not the scaled model input).</param>
    /// <param name="batchSize">How many items the flattened tensors hold; 0 (the default): not stated, which a step
    /// that works per item (dynamic thresholding) refuses rather than taking the whole tensor for one item.</param>
    public StepInput(ReadOnlySpan<float> modelOutput, double timestep, ReadOnlySpan<float> sample, int batchSize = 0)
    {
        ModelOutput = modelOutput;
        Timestep = timestep;
        Sample = sample;
        BatchSize = batchSize;
    }

    /// <summary>The network output (ε, x₀ or v, as the configuration's prediction type says).</summary>
    public ReadOnlySpan<float> ModelOutput { get; init; }

    /// <summary>The timestep the network was evaluated at.</summary>
    public double Timestep { get; init; }

    /// <summary>The current sample x_t.</summary>
    public ReadOnlySpan<float> Sample { get; init; }

    /// <summary>Number of items in the batch; 0: not stated (see <see cref="ItemCount"/>).</summary>
    public int BatchSize { get; init; }

    /// <summary>
    /// The unconditional network output at the same evaluation, for CFG++ (<see cref="ICfgPlusPlusSampler"/>): the loop
    /// sets it only in a run whose guidance stage keeps it (<see cref="IUnconditionalOutputSource"/>); empty otherwise,
    /// and a sampler then takes its ordinary step. <see cref="ModelOutput"/> stays the guided output.
    /// </summary>
    public ReadOnlySpan<float> UnconditionalOutput { get; init; }

    /// <summary>
    /// The number of items, for a computation made per item (<paramref name="purpose"/> names it in the error).
    /// </summary>
    /// <exception cref="ArgumentException">The batch size was not stated (0), or the sample is not a whole number of items.</exception>
    public int ItemCount(string purpose)
    {
        if (BatchSize == 0)
            throw new ArgumentException($"{purpose} works per batch item, and the step was given no batch size: pass the number of items " +
                                        $"the tensors hold as StepInput's batchSize (1 for a single sample).", "input");
        if (BatchSize < 0 || Sample.Length % BatchSize != 0)
            throw new ArgumentException($"The sample has {Sample.Length} values, which is not a positive multiple of the batch size {BatchSize}.", "input");
        return BatchSize;
    }
}

/// <summary>Where one sampler step writes. The buffers belong to the caller and may be reused across steps.</summary>
public readonly ref struct StepOutput
{
    /// <summary>Targets for the next sample and, optionally, the predicted x₀.</summary>
    /// <param name="prevSample">Receives x_{t−1}, the sample at the next timestep; it may be the same memory as the input sample.</param>
    /// <param name="predictedOriginal">Receives the predicted x₀ where the sampler computes one; empty to skip.</param>
    public StepOutput(Span<float> prevSample, Span<float> predictedOriginal = default)
    {
        PrevSample = prevSample;
        PredictedOriginal = predictedOriginal;
    }

    /// <summary>Receives the sample at the next timestep.</summary>
    public Span<float> PrevSample { get; }

    /// <summary>Receives the predicted x₀, or is empty.</summary>
    public Span<float> PredictedOriginal { get; }
}
