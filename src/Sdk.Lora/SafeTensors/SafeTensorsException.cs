using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Lora.SafeTensors;

/// <summary>
/// A <c>.safetensors</c> file is truncated, corrupt or holds something this reader does not read (an unknown dtype,
/// a header that points past the file, overlapping or mis-sized tensors). <see cref="FilePath"/> names the file and
/// <see cref="Key"/> the tensor, when one is to blame.
/// </summary>
public sealed class SafeTensorsException : ModelLoadException
{
    /// <summary>Creates the exception.</summary>
    public SafeTensorsException(string filePath, string? key, string problem, Exception? innerException = null)
        : base($"{filePath}: {(key is null ? "" : $"tensor '{key}': ")}{problem}", innerException)
    {
        FilePath = filePath;
        Key = key;
    }

    /// <summary>The file (or the name given to <see cref="SafeTensorsHeader.Parse"/> for bytes in memory).</summary>
    public string FilePath { get; }

    /// <summary>The tensor the problem is in, or null when it is the file's header or layout as a whole.</summary>
    public string? Key { get; }
}
