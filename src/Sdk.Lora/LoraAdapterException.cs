using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Lora;

/// <summary>
/// A LoRA adapter cannot be applied to the model: a rank mismatch between its halves, a missing half, a tensor of a
/// type or shape the merge cannot use, an update whose shape differs from the weight it maps to (an adapter made for
/// another architecture), or an adapter of which nothing matches the model. Raised before any session is created;
/// <see cref="FilePath"/> names the adapter and <see cref="Key"/> the tensor or module to blame.
/// </summary>
public sealed class LoraAdapterException : ModelLoadException
{
    /// <summary>Creates the exception.</summary>
    public LoraAdapterException(string filePath, string? key, string problem, Exception? innerException = null)
        : base($"LoRA adapter {filePath}: {(key is null ? "" : $"'{key}': ")}{problem}", innerException)
    {
        FilePath = filePath;
        Key = key;
    }

    /// <summary>The adapter file.</summary>
    public string FilePath { get; }

    /// <summary>The tensor key or module the problem is in, or null when it is the adapter as a whole.</summary>
    public string? Key { get; }
}
