using System.Runtime.InteropServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Sdk.Onnx.GpuTests;

/// <summary>
/// What <see cref="OnnxExecutionProvider.Cuda"/> and <see cref="OnnxExecutionProvider.Auto"/> do with the real
/// ONNX Runtime package of this build, on the embedded digits UNet. On a machine without CUDA (CI) the GPU build's
/// CUDA provider cannot load its libraries: Cuda must fail at once with a typed error that names every missing one,
/// Auto must run on the CPU after exactly one warning. On a machine with CUDA, Cuda must match the CPU.
/// </summary>
public sealed class ExecutionProviderTests
{
    // What the CUDA provider of ONNX Runtime 1.31's GPU build (CUDA 13) links against or loads (Linux names).
    private static readonly string[] CudaLibraryNames = ["libcublas.so.13", "libcublasLt.so.13", "libcudart.so.13", "libcurand.so.10", "libcudnn.so.9"];

    private static readonly bool IsGpuBuild = OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider");

    [Test]
    public void TheBuildBringsTheRuntimeItWasAskedFor()
    {
#if ONNXRUNTIME_GPU
        Assert.That(IsGpuBuild, Is.True, "built with -p:OnnxRuntimeGpu=true, yet the loaded ONNX Runtime has no CUDA provider: the package swap did not happen");
#else
        Assert.That(IsGpuBuild, Is.False, "built without -p:OnnxRuntimeGpu=true, yet the loaded ONNX Runtime has a CUDA provider");
#endif
    }

    [Test]
    public void Cuda_WithoutCudaLibraries_IsATypedErrorNamingThemAndWhatToInstall()
    {
        RequireGpuBuildWithoutCuda();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var error = Assert.Throws<ExecutionProviderUnavailableException>(() =>
            OnnxDiffusionModel.Load(DigitsModel, new OnnxModelOptions { ExecutionProvider = OnnxExecutionProvider.Cuda }))!;
        TestContext.Out.WriteLine(error.Message);
        Assert.Multiple(() =>
        {
            Assert.That(error, Is.InstanceOf<ModelLoadException>(), "callers that catch load failures catch this one too");
            Assert.That(error.Provider, Is.EqualTo(OnnxExecutionProvider.Cuda));
            Assert.That(error.MissingLibraries, Is.SupersetOf(CudaLibraryNames));
            foreach (var name in CudaLibraryNames) Assert.That(error.Message, Does.Contain(name));
            Assert.That(error.Message, Does.Contain("model.onnx").And.Contain("CUDA 13").And.Contain("cuDNN 9").And.Contain("LD_LIBRARY_PATH"));
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(30)), "the failure comes before any long work");
        });
    }

    [Test]
    public void Auto_WithoutCudaLibraries_RunsOnTheCpuAfterOneWarning()
    {
        RequireGpuBuildWithoutCuda();
        var logger = new WarningLogger();
        using var auto = OnnxDiffusionModel.Load(DigitsModel, new OnnxModelOptions { ExecutionProvider = OnnxExecutionProvider.Auto }, logger);
        Assert.That(auto.ExecutionProvider, Is.EqualTo(OnnxExecutionProvider.Cpu));
        Assert.That(logger.Warnings, Has.Count.EqualTo(1));
        Assert.That(logger.Warnings[0], Does.Contain("CUDA is not available").And.Contain("libcudart.so.13").And.Contain("on the CPU"));

        // The fallback is the CPU session itself: the same numbers as a model loaded on the CPU.
        using var cpu = OnnxDiffusionModel.Load(DigitsModel, new OnnxModelOptions { ExecutionProvider = OnnxExecutionProvider.Cpu });
        Assert.That(Predict(auto), Is.EqualTo(Predict(cpu)));
    }

    [Test]
    public void Cuda_WithCuda_MatchesTheCpu()
    {
        if (!IsGpuBuild) Assert.Ignore("Needs the GPU build of ONNX Runtime (-p:OnnxRuntimeGpu=true).");
        if (!CudaLibraryNames.All(CanLoad) || !CanLoad("libcuda.so.1")) Assert.Ignore("Needs CUDA 13, cuDNN 9 and the NVIDIA driver on the library path.");
        using var cuda = OnnxDiffusionModel.Load(DigitsModel, new OnnxModelOptions { ExecutionProvider = OnnxExecutionProvider.Cuda });
        using var cpu = OnnxDiffusionModel.Load(DigitsModel);
        Assert.That(cuda.ExecutionProvider, Is.EqualTo(OnnxExecutionProvider.Cuda));
        var (a, b) = (Predict(cuda), Predict(cpu));
        var worst = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
        TestContext.Out.WriteLine($"largest |CUDA − CPU| = {worst:E2}");
        // TF32 and other kernel choices change the last bits; a broken provider is off by the output's scale (about 1).
        Assert.That(worst, Is.LessThan(1e-2));
    }

    private static void RequireGpuBuildWithoutCuda()
    {
        if (!IsGpuBuild)
            Assert.Ignore("Needs the GPU build of ONNX Runtime: CI runs this with -p:OnnxRuntimeGpu=true (the CPU build's behaviour is tested in Sdk.Tests).");
        var present = CudaLibraryNames.Where(CanLoad).ToList();
        if (present.Count > 0)
            Assert.Ignore($"This machine has CUDA libraries ({string.Join(", ", present)}); the no-CUDA behaviour is not observable here.");
    }

    private static bool CanLoad(string name)
    {
        if (!NativeLibrary.TryLoad(name, out var handle)) return false;
        NativeLibrary.Free(handle);
        return true;
    }

    private static float[] Predict(OnnxDiffusionModel model)
    {
        const int batch = 2;
        var sample = new float[batch * 28 * 28];
        var random = new Random(7);
        for (var i = 0; i < sample.Length; i++) sample[i] = (float)(random.NextDouble() * 2 - 1);
        var output = new float[sample.Length];
        using var denoiser = (OnnxDenoiser)model.CreateDenoiser();
        denoiser.Predict(new DenoiserInput(sample, new TensorShape(batch, 1, 28, 28), 500, [3, 7]), output);
        return output;
    }

    private static string DigitsModel
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Sdk.sln"))) return Path.Combine(dir.FullName, "models", "digits");
            throw new DirectoryNotFoundException("The tests run from inside the repository (no folder above them holds Sdk.sln).");
        }
    }

    private sealed class WarningLogger : ILogger
    {
        public List<string> Warnings { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Warning) Warnings.Add(formatter(state, exception));
        }
    }
}
