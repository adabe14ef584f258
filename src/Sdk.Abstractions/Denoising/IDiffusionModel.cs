
namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// A loaded denoising network (for example an ONNX UNet with its scheduler configuration). Thread-safe and long-lived:
/// share one instance; each sampling run takes its own <see cref="CreateDenoiser"/>, which owns that run's buffers.
/// </summary>
public interface IDiffusionModel : IDisposable
{
    /// <summary>What the network takes and produces.</summary>
    ModelInfo Info { get; }

    /// <summary>The scheduler configuration shipped with the model (<c>scheduler/scheduler_config.json</c>), or null.</summary>
    SchedulerConfig? SchedulerConfig { get; }

    /// <summary>A denoiser for one sampling run (not thread-safe; cheap to create).</summary>
    IDenoiser CreateDenoiser();
}

/// <summary>The shape of a model's inputs and outputs, read from the model itself.</summary>
public sealed record ModelInfo
{
    /// <summary>Where the model came from (a file or folder), for messages.</summary>
    public required string Source { get; init; }

    /// <summary>Channels of the sample (latent) tensor.</summary>
    public required int Channels { get; init; }

    /// <summary>
    /// Channels of the model's sample input when it reads more than the latent's <see cref="Channels"/> (an inpainting
    /// UNet's latent ‖ mask ‖ masked-image latent: 9), else null. The output always has <see cref="Channels"/>.
    /// </summary>
    public int? InputChannels { get; init; }

    /// <summary>Channels of the model's sample input: <see cref="InputChannels"/>, else <see cref="Channels"/>.</summary>
    public int SampleInputChannels => InputChannels ?? Channels;

    /// <summary>Height of the sample, or null when the model accepts any.</summary>
    public int? Height { get; init; }

    /// <summary>Width of the sample, or null when the model accepts any.</summary>
    public int? Width { get; init; }

    /// <summary>The batch size the model is fixed to, or null for a dynamic batch.</summary>
    public int? FixedBatchSize { get; init; }

    /// <summary>Whether the model takes class labels.</summary>
    public bool HasClassLabels { get; init; }

    /// <summary>Number of real classes (labels 0 … n−1), when known.</summary>
    public int? NumClasses { get; init; }

    /// <summary>The class label that means "unconditional" for classifier-free guidance, when the model has one.</summary>
    public long? UnconditionalLabel { get; init; }

    /// <summary>Whether the model takes encoder hidden states (text conditioning), and their per-item length.</summary>
    public int? EncoderHiddenStatesLength { get; init; }

    /// <summary>
    /// The model's other per-item inputs (for example SDXL's <c>text_embeds</c> and <c>time_ids</c>, an LCM UNet's
    /// <c>timestep_cond</c>), which a run's <see cref="ModelConditioning"/> must supply by name.
    /// </summary>
    public IReadOnlyList<ModelInputInfo> ConditioningInputs { get; init; } = [];

    /// <summary>The conditioning input named <paramref name="name"/>, or null when the model has none.</summary>
    public ModelInputInfo? FindConditioningInput(string name) => ConditioningInputs.FirstOrDefault(i => string.Equals(i.Name, name, StringComparison.Ordinal));
}

/// <summary>A per-item model input, as the model declares it.</summary>
/// <param name="Name">The input's name.</param>
/// <param name="ElementType">Its element type as the model declares it (<c>float32</c>, <c>float16</c>, <c>int64</c>…); values are given as float32 and converted.</param>
/// <param name="RowShape">Its dimensions after the batch; null where the model leaves one open.</param>
public sealed record ModelInputInfo(string Name, string ElementType, IReadOnlyList<int?> RowShape)
{
    /// <summary>Values per item when every dimension is fixed, else null.</summary>
    public int? RowLength => RowShape.All(d => d is not null) ? RowShape.Aggregate(1, (p, d) => checked(p * d!.Value)) : null;
}

/// <summary>The model ran out of memory for the batch it was given; the pipeline retries once with half the batch.</summary>
public sealed class ModelOutOfMemoryException(string message, Exception? innerException = null) : DiffusionException(message, innerException);

/// <summary>
/// A model file or folder is missing, unreadable, corrupt, or does not have the inputs and outputs the SDK needs; or the
/// execution provider asked for cannot run it (a model package may throw a more specific subclass).
/// </summary>
public class ModelLoadException(string message, Exception? innerException = null) : DiffusionException(message, innerException);
