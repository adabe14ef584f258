using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Onnx;

/// <summary>
/// The execution provider asked for (<see cref="OnnxExecutionProvider.Cuda"/>) cannot run here: this program was built
/// with the CPU build of ONNX Runtime, or the libraries the CUDA provider needs (the NVIDIA driver, the CUDA 13
/// runtime libraries, cuDNN 9) cannot be loaded. The message says which are missing and what to install;
/// <see cref="MissingLibraries"/> lists them for programs that report it their own way.
/// </summary>
public sealed class ExecutionProviderUnavailableException(string message, OnnxExecutionProvider provider, IReadOnlyList<string> missingLibraries, Exception? innerException = null)
    : ModelLoadException(message, innerException)
{
    /// <summary>The provider that was asked for.</summary>
    public OnnxExecutionProvider Provider { get; } = provider;

    /// <summary>
    /// The shared libraries that could not be loaded from the library search path (e.g. <c>libcublasLt.so.13</c>,
    /// <c>libcudnn.so.9</c>); empty when all of them load and the provider still failed, or when the CPU build
    /// of ONNX Runtime is the reason.
    /// </summary>
    public IReadOnlyList<string> MissingLibraries { get; } = missingLibraries;
}
