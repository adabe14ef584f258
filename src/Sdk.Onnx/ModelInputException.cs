using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
namespace Diffusion.Sdk.Onnx;

/// <summary>
/// A denoiser request does not fit the model: the wrong channel count or image size, class labels missing for a
/// class-conditional model (or given to one that takes none), encoder hidden states of the wrong length. The message
/// names the model file, the input, and what it expects.
/// </summary>
public sealed class ModelInputException(string message, Exception? innerException = null) : DiffusionException(message, innerException);
