using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Onnx;

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
            throw new ArgumentOutOfRangeException(nameof(options), $"{nameof(OnnxModelOptions.IntraOpThreads)} and {nameof(OnnxModelOptions.InterOpThreads)} must be >= 0 (IntraOpThreads null: one per logical core; 0: ONNX Runtime's default).");
        if (options.ExecutionMode is { } mode && !Enum.IsDefined(mode))
            throw new ArgumentOutOfRangeException(nameof(options), mode, $"{nameof(OnnxModelOptions.ExecutionMode)} must be Sequential, Parallel or null.");
        if (!Enum.IsDefined(options.GraphOptimizationLevel))
            throw new ArgumentOutOfRangeException(nameof(options), options.GraphOptimizationLevel, $"{nameof(OnnxModelOptions.GraphOptimizationLevel)} must be None, Basic, Extended or All.");
    }

    // ---- execution providers -------------------------------------------------------------------------------

    /// <param name="modelFile">The model.</param>
    /// <param name="options">Provider and session settings.</param>
    /// <param name="logger">Receives the CPU fallback warning.</param>
    /// <param name="provider">The provider the session runs on.</param>
    /// <param name="overrides">Initializer values that replace the file's (merged LoRA weights); the caller keeps them alive as long as the session.</param>
    public static InferenceSession Create(string modelFile, OnnxModelOptions options, ILogger logger, out OnnxExecutionProvider provider,
        OnnxInitializerOverrides? overrides = null)
    {
        // ONNX Runtime uses an initializer override only where it lies on the device the graph's plan puts the weight on;
        // for a CUDA session it silently loads the file's weight instead (session_state_utils: "Cannot use user supplied
        // initializer"). The overrides here live in CPU memory, so a session that has them runs on the CPU.
        if (overrides is { Count: > 0 } && options.ExecutionProvider != OnnxExecutionProvider.Cpu)
        {
            const string reason = "ONNX Runtime ignores initializer overrides in CPU memory for a CUDA session, so merged LoRA weights are applied on the CPU provider only";
            if (options.ExecutionProvider == OnnxExecutionProvider.Cuda)
                throw new ModelLoadException($"Cannot run {modelFile} with LoRA adapters on CUDA: {reason}. Use the Cpu or Auto provider (Auto runs the parts the adapters change on the CPU).");
            logger.LogWarning("{File} has LoRA adapters merged: running it on the CPU ({Reason}).", modelFile, reason);
            provider = OnnxExecutionProvider.Cpu;
            return OpenOnCpu(modelFile, options, overrides);
        }
        if (options.ExecutionProvider == OnnxExecutionProvider.Cpu)
        {
            provider = OnnxExecutionProvider.Cpu;
            return OpenOnCpu(modelFile, options, overrides);
        }

        // Cuda or Auto. The CPU build lacks the CUDA provider's entry point; the GPU build has it, but its provider
        // library loads only when the CUDA 13 libraries and cuDNN 9 can be loaded too (cuDNN only at the first
        // convolution), so those are checked first and every missing one is named.
        var auto = options.ExecutionProvider == OnnxExecutionProvider.Auto;
        var gpuBuild = OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider");
        if (gpuBuild && CudaLibraries.Missing() is { Count: > 0 } missing)
        {
            var reason = $"the CUDA libraries ONNX Runtime's CUDA provider needs cannot be loaded: {CudaLibraries.Describe(missing)}. {CudaLibraries.InstallHint}";
            if (!auto)
                throw new ExecutionProviderUnavailableException($"Cannot run {modelFile} on CUDA device {options.DeviceId}: {reason}", OnnxExecutionProvider.Cuda, missing);
            logger.LogWarning("CUDA is not available ({Reason}); running {File} on the CPU.", reason, modelFile);
            provider = OnnxExecutionProvider.Cpu;
            return OpenOnCpu(modelFile, options, overrides);
        }

        SessionOptions? cudaOptions = null;
        try
        {
            cudaOptions = BaseSessionOptions(options);
            cudaOptions.AppendExecutionProvider_CUDA(options.DeviceId);
        }
        catch (Exception e) when (OnnxErrors.IsMissingProvider(e))
        {
            cudaOptions?.Dispose();
            var reason = CudaUnavailable(gpuBuild, e);
            if (!auto)
                throw new ExecutionProviderUnavailableException($"Cannot run {modelFile} on CUDA device {options.DeviceId}: {reason}", OnnxExecutionProvider.Cuda, [], e);
            logger.LogWarning("CUDA is not available ({Reason}); running {File} on the CPU.", reason, modelFile);
            provider = OnnxExecutionProvider.Cpu;
            return OpenOnCpu(modelFile, options, overrides);
        }

        try
        {
            var session = Open(modelFile, options, cudaOptions, overrides);
            provider = OnnxExecutionProvider.Cuda;
            return session;
        }
        catch (ModelLoadException e) when (auto)
        {
            // The CUDA session could not be created (no device, a driver mismatch…). If the file itself is the problem
            // the CPU attempt fails too, with the CPU's message.
            var session = OpenOnCpu(modelFile, options, overrides);
            logger.LogWarning("Creating the CUDA session failed ({Reason}); running {File} on the CPU.", e.InnerException?.Message ?? e.Message, modelFile);
            provider = OnnxExecutionProvider.Cpu;
            return session;
        }
    }

    private static string CudaUnavailable(bool gpuBuild, Exception e) => gpuBuild
        ? "this is the GPU build of ONNX Runtime and the CUDA libraries load, but its CUDA provider could not be added: check that the NVIDIA driver " +
          $"supports CUDA 13 (nvidia-smi) and that the device exists ({e.GetType().Name}: {e.Message}). {CudaLibraries.InstallHint}"
        : "this program uses the CPU build of ONNX Runtime (package Microsoft.ML.OnnxRuntime), which has no CUDA provider. " +
          $"Build with the GPU build of ONNX Runtime (dotnet build -p:OnnxRuntimeGpu=true) on a machine with CUDA 13 and cuDNN 9, or use the Cpu or Auto provider ({e.GetType().Name}: {e.Message}).";

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
        // Null: one thread per logical core, set explicitly, because ONNX Runtime's own default (0) pins its threads.
        so.IntraOpNumThreads = options.IntraOpThreads ?? Environment.ProcessorCount;
        if (options.InterOpThreads is { } inter) so.InterOpNumThreads = inter;
        var parallel = options.ExecutionMode is { } mode ? mode == OnnxExecutionMode.Parallel : options.InterOpThreads > 1;
        so.ExecutionMode = parallel ? ExecutionMode.ORT_PARALLEL : ExecutionMode.ORT_SEQUENTIAL;
        so.EnableCpuMemArena = options.EnableMemoryArena;
        so.EnableMemoryPattern = options.EnableMemoryPattern;
        so.AddSessionConfigEntry("session.intra_op.allow_spinning", options.AllowSpinning ? "1" : "0");
        if (options.DenormalsAsZero) so.AddSessionConfigEntry("session.set_denormal_as_zero", "1");
        return so;
    }

    private static InferenceSession OpenOnCpu(string modelFile, OnnxModelOptions options, OnnxInitializerOverrides? overrides) =>
        Open(modelFile, options, BaseSessionOptions(options), overrides);

    // Loads by path, not bytes, so that ONNX Runtime finds external weight data beside the model.
    private static InferenceSession Open(string modelFile, OnnxModelOptions options, SessionOptions sessionOptions, OnnxInitializerOverrides? overrides)
    {
        using (sessionOptions)
        {
            // Overrides first, so that ConfigureSession can still change any setting they make.
            overrides?.AddTo(sessionOptions);
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
