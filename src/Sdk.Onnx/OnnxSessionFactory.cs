using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Diffusion.Denoising;

namespace Diffusion.Onnx;

/// <summary>
/// Opens ONNX Runtime sessions with <see cref="OnnxModelOptions"/>: the execution provider (CUDA with its CPU fallback),
/// threads and graph optimizations. Every ONNX component of the SDK (a UNet, a text encoder, a VAE) is opened here,
/// so that they all run on the same provider with the same settings.
/// </summary>
internal static class OnnxSessionFactory
{
    public static void Validate(OnnxModelOptions options)
    {
        if (!Enum.IsDefined(options.ExecutionProvider))
            throw new ArgumentOutOfRangeException(nameof(options), options.ExecutionProvider, $"{nameof(OnnxModelOptions.ExecutionProvider)} must be Cpu, Cuda or Auto.");
        if (options.DeviceId < 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.DeviceId, $"{nameof(OnnxModelOptions.DeviceId)} must be >= 0.");
        if (options.IntraOpThreads < 0 || options.InterOpThreads < 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"{nameof(OnnxModelOptions.IntraOpThreads)} and {nameof(OnnxModelOptions.InterOpThreads)} must be >= 0 (0 or null: ONNX Runtime's default).");
        if (!Enum.IsDefined(options.GraphOptimizationLevel))
            throw new ArgumentOutOfRangeException(nameof(options), options.GraphOptimizationLevel, $"{nameof(OnnxModelOptions.GraphOptimizationLevel)} must be None, Basic, Extended or All.");
    }

    // ---- execution providers -------------------------------------------------------------------------------

    public static InferenceSession Create(string modelFile, OnnxModelOptions options, ILogger logger, out OnnxExecutionProvider provider)
    {
        if (options.ExecutionProvider == OnnxExecutionProvider.Cpu)
        {
            provider = OnnxExecutionProvider.Cpu;
            return OpenOnCpu(modelFile, options);
        }

        // Cuda or Auto: append the CUDA provider; the CPU build lacks its entry point, a GPU build without CUDA
        // libraries fails to load it.
        SessionOptions? cudaOptions = null;
        try
        {
            cudaOptions = BaseSessionOptions(options);
            cudaOptions.AppendExecutionProvider_CUDA(options.DeviceId);
        }
        catch (Exception e) when (OnnxErrors.IsMissingProvider(e))
        {
            cudaOptions?.Dispose();
            if (options.ExecutionProvider == OnnxExecutionProvider.Cuda)
                throw new ModelLoadException($"Cannot run {modelFile} on CUDA device {options.DeviceId}: {CudaUnavailable(e)}", e);
            logger.LogWarning("CUDA is not available ({Reason}); running {File} on the CPU.", CudaUnavailable(e), modelFile);
            provider = OnnxExecutionProvider.Cpu;
            return OpenOnCpu(modelFile, options);
        }

        try
        {
            var session = Open(modelFile, options, cudaOptions);
            provider = OnnxExecutionProvider.Cuda;
            return session;
        }
        catch (ModelLoadException e) when (options.ExecutionProvider == OnnxExecutionProvider.Auto)
        {
            // The CUDA session could not be created (no device, a driver mismatch…). If the file itself is the problem
            // the CPU attempt fails too, with the CPU's message.
            var session = OpenOnCpu(modelFile, options);
            logger.LogWarning("Creating the CUDA session failed ({Reason}); running {File} on the CPU.", e.InnerException?.Message ?? e.Message, modelFile);
            provider = OnnxExecutionProvider.Cpu;
            return session;
        }
    }

    private static string CudaUnavailable(Exception e)
    {
#if ONNXRUNTIME_GPU
        const string build = "this is the GPU build of ONNX Runtime, but its CUDA provider could not be loaded";
        return $"{build}: check that CUDA and cuDNN of the versions ONNX Runtime 1.31 needs are installed and on the library path ({e.GetType().Name}: {e.Message}).";
#else
        return "this program uses the CPU build of ONNX Runtime (package Microsoft.ML.OnnxRuntime), which has no CUDA provider. " +
               $"Build with the GPU build of ONNX Runtime (dotnet build -p:OnnxRuntimeGpu=true) on a machine with CUDA and cuDNN, or use the Cpu or Auto provider ({e.GetType().Name}: {e.Message}).";
#endif
    }

    private static SessionOptions BaseSessionOptions(OnnxModelOptions options)
    {
        var so = new SessionOptions
        {
            GraphOptimizationLevel = options.GraphOptimizationLevel switch
            {
                OnnxGraphOptimizationLevel.None => GraphOptimizationLevel.ORT_DISABLE_ALL,
                OnnxGraphOptimizationLevel.Basic => GraphOptimizationLevel.ORT_ENABLE_BASIC,
                OnnxGraphOptimizationLevel.Extended => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                _ => GraphOptimizationLevel.ORT_ENABLE_ALL,
            },
        };
        if (options.IntraOpThreads is { } intra) so.IntraOpNumThreads = intra;
        if (options.InterOpThreads is { } inter)
        {
            so.InterOpNumThreads = inter;
            if (inter > 1) so.ExecutionMode = ExecutionMode.ORT_PARALLEL;
        }
        return so;
    }

    private static InferenceSession OpenOnCpu(string modelFile, OnnxModelOptions options) => Open(modelFile, options, BaseSessionOptions(options));

    // Loads by path, not bytes, so that ONNX Runtime finds external weight data beside the model.
    private static InferenceSession Open(string modelFile, OnnxModelOptions options, SessionOptions sessionOptions)
    {
        using (sessionOptions)
        {
            options.ConfigureSession?.Invoke(sessionOptions);
            try
            {
                return new InferenceSession(modelFile, sessionOptions);
            }
            catch (OnnxRuntimeException e)
            {
                throw new ModelLoadException($"{modelFile} could not be loaded by ONNX Runtime: expected a valid ONNX model (with its external weight data, if any, beside it). {e.Message}", e);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ModelLoadException($"{modelFile} could not be read: {e.Message}", e);
            }
        }
    }
}
