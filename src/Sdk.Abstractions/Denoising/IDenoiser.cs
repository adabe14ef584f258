namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// The network side of sampling: predicts ε, x₀ or v (whatever the model was trained for) for a batch of noisy
/// inputs at one timestep. It knows nothing of timestep spacing or samplers; an ONNX UNet, a closed-form test
/// network, or a guidance wrapper around either all look the same to the sampling loop.
/// </summary>
/// <remarks>
/// Ownership: whoever creates a denoiser disposes it (the pipeline disposes the one it takes from
/// <see cref="IDiffusionModel.CreateDenoiser"/> when the run ends); a decorator such as guidance owns the denoiser it
/// wraps and disposes it with itself.
/// </remarks>
public interface IDenoiser : IDisposable
{
    /// <summary>The batch size the model is fixed to, or null when it accepts any batch size.</summary>
    int? FixedBatchSize { get; }

    /// <summary>
    /// Evaluates the model on <see cref="DenoiserInput.Sample"/> and writes its output to <paramref name="output"/>: the
    /// sample's shape, except for a model whose input carries extra channels beside the latent (an inpainting UNet's
    /// mask and masked-image latents), whose output has the latent's channels only.
    /// </summary>
    /// <param name="input">The noisy input and its conditioning.</param>
    /// <param name="output">Receives the prediction.</param>
    /// <param name="cancellationToken">Stops the evaluation, inside a long model call where the runtime allows it.</param>
    void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default);
}

/// <summary>One model evaluation's inputs. Refers to the caller's buffers; build one per call.</summary>
public readonly ref struct DenoiserInput
{
    /// <summary>Describes an evaluation.</summary>
    /// <param name="sample">The (scaled) noisy input, NCHW.</param>
    /// <param name="shape">Its shape.</param>
    /// <param name="timestep">The timestep, possibly fractional.</param>
    /// <param name="classLabels">One class label per item, or empty for an unconditional model.</param>
    /// <param name="encoderHiddenStates">Conditioning embeddings, item after item, or empty.</param>
    public DenoiserInput(ReadOnlySpan<float> sample, TensorShape shape, double timestep, ReadOnlySpan<long> classLabels = default, ReadOnlySpan<float> encoderHiddenStates = default)
    {
        if (sample.Length != shape.Length)
            throw new ArgumentException($"The sample has {sample.Length} values but the shape {shape} needs {shape.Length}.", nameof(sample));
        if (!classLabels.IsEmpty && classLabels.Length != shape.Batch)
            throw new ArgumentException($"{classLabels.Length} class labels were given for a batch of {shape.Batch}; give one per item.", nameof(classLabels));
        if (!encoderHiddenStates.IsEmpty && encoderHiddenStates.Length % shape.Batch != 0)
            throw new ArgumentException($"{encoderHiddenStates.Length} hidden-state values cannot be split over a batch of {shape.Batch}.", nameof(encoderHiddenStates));
        Sample = sample;
        Shape = shape;
        Timestep = timestep;
        ClassLabels = classLabels;
        EncoderHiddenStates = encoderHiddenStates;
    }

    /// <summary>Describes an evaluation conditioned by a run's <see cref="ModelConditioning"/>.</summary>
    /// <param name="sample">The (scaled) noisy input, NCHW.</param>
    /// <param name="shape">Its shape.</param>
    /// <param name="timestep">The timestep, possibly fractional.</param>
    /// <param name="conditioning">The run's conditioning.</param>
    /// <param name="conditioningRow">The conditioning row of the sample's first item: the items read rows [row, row + batch).</param>
    public DenoiserInput(ReadOnlySpan<float> sample, TensorShape shape, double timestep, ModelConditioning conditioning, int conditioningRow)
        : this(sample, shape, timestep, (conditioning ?? throw new ArgumentNullException(nameof(conditioning))).LabelRows(conditioningRow, shape.Batch),
            conditioning.HiddenRows(conditioningRow, shape.Batch))
    {
        Conditioning = conditioning;
        ConditioningRow = conditioningRow;
    }

    /// <summary>The noisy input.</summary>
    public ReadOnlySpan<float> Sample { get; }

    /// <summary>The input's shape.</summary>
    public TensorShape Shape { get; }

    /// <summary>The timestep.</summary>
    public double Timestep { get; }

    /// <summary>Class labels, one per item, or empty.</summary>
    public ReadOnlySpan<long> ClassLabels { get; }

    /// <summary>Conditioning embeddings, or empty.</summary>
    public ReadOnlySpan<float> EncoderHiddenStates { get; }

    /// <summary>The run's conditioning, when the caller built one; <see cref="ClassLabels"/> and <see cref="EncoderHiddenStates"/> are then its rows for these items.</summary>
    public ModelConditioning? Conditioning { get; }

    /// <summary>The row of <see cref="Conditioning"/> that the sample's first item reads.</summary>
    public int ConditioningRow { get; }

    /// <summary>The same evaluation on items [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) of the batch, with their conditioning.</summary>
    /// <param name="sample">Those items' samples.</param>
    /// <param name="start">The first item.</param>
    /// <param name="count">How many.</param>
    public DenoiserInput Items(ReadOnlySpan<float> sample, int start, int count)
    {
        var shape = Shape.WithBatch(count);
        if (Conditioning is { } conditioning) return new DenoiserInput(sample, shape, Timestep, conditioning, ConditioningRow + start);
        var hiddenPerItem = EncoderHiddenStates.IsEmpty ? 0 : EncoderHiddenStates.Length / Shape.Batch;
        return new DenoiserInput(sample, shape, Timestep,
            ClassLabels.IsEmpty ? default : ClassLabels.Slice(start, count),
            hiddenPerItem == 0 ? default : EncoderHiddenStates.Slice(start * hiddenPerItem, count * hiddenPerItem));
    }
}
