using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Sdk.Onnx;

/// <summary>Classifies ONNX Runtime failures.</summary>
internal static class OnnxErrors
{
    // What ONNX Runtime says when an allocation fails: the CPU allocator ("Failed to allocate memory for requested
    // buffer of size …", std::bad_alloc), the BFC arena ("Available memory of … is smaller than requested bytes of …"),
    // and CUDA, cuDNN and cuBLAS ("out of memory", cudaErrorMemoryAllocation, CUDNN_STATUS_ALLOC_FAILED, CUBLAS_STATUS_ALLOC_FAILED).
    private static readonly string[] OutOfMemoryMarkers =
    [
        "failed to allocate memory", "bad_alloc", "out of memory", "outofmemory", "available memory of",
        "memoryallocation", "alloc_failed", "cannot allocate memory",
    ];

    /// <summary>Whether <paramref name="message"/> reports an allocation failure.</summary>
    public static bool IsOutOfMemory(string message) =>
        OutOfMemoryMarkers.Any(m => message.Contains(m, StringComparison.OrdinalIgnoreCase));

    /// <summary>Whether <paramref name="e"/> is ONNX Runtime reporting an allocation failure.</summary>
    public static bool IsOutOfMemory(OnnxRuntimeException e) => IsOutOfMemory(e.Message);

    /// <summary>Whether <paramref name="e"/> is what appending an execution provider throws when the provider is not in this build or its libraries are missing.</summary>
    public static bool IsMissingProvider(Exception e) => e is EntryPointNotFoundException or DllNotFoundException or OnnxRuntimeException;
}
