using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Runtime.InteropServices;

namespace Diffusion.Sdk.Onnx;

/// <summary>
/// The shared libraries the CUDA provider of the GPU build of ONNX Runtime 1.31 (a CUDA 13 build) needs, and which of
/// them this process can load. ONNX Runtime's own error names only the first library the loader missed, and cuDNN
/// is loaded only when the first convolution runs; probing them all up front lets a load fail at once with the
/// whole list.
/// </summary>
internal static class CudaLibraries
{
    /// <summary>One library: its file name and what provides it.</summary>
    internal sealed record Library(string Name, string ProvidedBy);

    /// <summary>What the provider needs on this operating system, in the order the loader meets them.</summary>
    public static IReadOnlyList<Library> Required { get; } = OperatingSystem.IsWindows()
        ?
        [
            new("nvcuda.dll", "the NVIDIA driver"),
            new("cudart64_13.dll", "the CUDA 13 runtime"),
            new("cublasLt64_13.dll", "cuBLAS 13 (CUDA 13)"),
            new("cublas64_13.dll", "cuBLAS 13 (CUDA 13)"),
            new("curand64_10.dll", "cuRAND 10 (CUDA 13)"),
            new("cudnn64_9.dll", "cuDNN 9 for CUDA 13"),
        ]
        :
        [
            new("libcuda.so.1", "the NVIDIA driver"),
            new("libcudart.so.13", "the CUDA 13 runtime"),
            new("libcublasLt.so.13", "cuBLAS 13 (CUDA 13)"),
            new("libcublas.so.13", "cuBLAS 13 (CUDA 13)"),
            new("libcurand.so.10", "cuRAND 10 (CUDA 13)"),
            new("libcudnn.so.9", "cuDNN 9 for CUDA 13"),
        ];

    /// <summary>What a user installs to get them, for error messages.</summary>
    public const string InstallHint =
        "Install the NVIDIA driver, the CUDA 13 runtime libraries (cudart, cuBLAS and cuBLASLt 13, cuRAND 10: the CUDA 13 toolkit, or NVIDIA's " +
        "pip packages nvidia-cuda-runtime, nvidia-cublas and nvidia-curand for CUDA 13) and cuDNN 9 for CUDA 13 (nvidia-cudnn-cu13), and put the " +
        "folders that hold them on the library path (LD_LIBRARY_PATH on Linux, PATH on Windows); `nvidia-smi` shows the driver, " +
        "`ldconfig -p | grep -E 'cublas|cudart|curand|cudnn'` what the loader finds. README.md, \"Running on a GPU\", has the steps.";

    /// <summary>
    /// The libraries of <see cref="Required"/> that cannot be loaded from the library search path or from the folder
    /// of ONNX Runtime's own native library. Each is loaded and released at once; a library already loaded costs nothing.
    /// </summary>
    public static IReadOnlyList<string> Missing()
    {
        var onnxFolder = OnnxRuntimeFolder();
        var missing = new List<string>();
        foreach (var library in Required)
        {
            if (TryLoad(library.Name) || (onnxFolder is not null && TryLoad(Path.Combine(onnxFolder, library.Name)))) continue;
            missing.Add(library.Name);
        }
        return missing;
    }

    /// <summary>"libcublasLt.so.13 (cuBLAS 13 (CUDA 13)), …" for the given names.</summary>
    public static string Describe(IEnumerable<string> names) =>
        string.Join(", ", names.Select(n => Required.FirstOrDefault(l => l.Name == n) is { } l ? $"{n} ({l.ProvidedBy})" : n));

    private static bool TryLoad(string nameOrPath)
    {
        if (!NativeLibrary.TryLoad(nameOrPath, out var handle)) return false;
        NativeLibrary.Free(handle);
        return true;
    }

    // The package puts onnxruntime next to its providers (runtimes/<rid>/native in a build folder, or the app folder).
    private static string? OnnxRuntimeFolder()
    {
        var name = OperatingSystem.IsWindows() ? "onnxruntime.dll" : "libonnxruntime.so";
        var rid = $"{(OperatingSystem.IsWindows() ? "win" : "linux")}-{RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant()}";
        foreach (var folder in new[] { AppContext.BaseDirectory, Path.Combine(AppContext.BaseDirectory, "runtimes", rid, "native") })
            if (File.Exists(Path.Combine(folder, name))) return folder;
        return null;
    }
}
