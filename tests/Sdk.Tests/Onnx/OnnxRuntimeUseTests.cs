using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Onnx;
using Microsoft.ML.OnnxRuntime;
using static Diffusion.Sdk.Tests.Onnx.OnnxTestModels;

namespace Diffusion.Sdk.Tests.Onnx;

/// <summary>How the loader uses ONNX Runtime: concurrency, buffer reuse, allocation failures, and a real model when one is there.</summary>
[TestFixture]
public class OnnxRuntimeUseTests
{
    [Test]
    public void OneModel_ServesConcurrentDenoisers_WithTheSameResultsAsSequentialRuns()
    {
        var spec = Get("mixture-v.onnx");
        using var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        const int tasks = 4, calls = 25;
        Request RequestFor(int task, int call) => MakeRequest(spec, batch: 1 + (task + call) % 4, timestep: 40 * call + 3.5 * task, seed: 1000 * task + call);

        var sequential = new float[tasks][][];
        var denoiser = model.CreateDenoiser();
        for (var task = 0; task < tasks; task++)
        {
            sequential[task] = new float[calls][];
            for (var call = 0; call < calls; call++)
            {
                var request = RequestFor(task, call);
                sequential[task][call] = new float[request.Sample.Length];
                denoiser.Predict(request.Input, sequential[task][call]);
            }
        }

        using var start = new Barrier(tasks);
        var concurrent = Enumerable.Range(0, tasks).Select(task => Task.Run(() =>
        {
            var own = model.CreateDenoiser();
            var results = new float[calls][];
            start.SignalAndWait();
            for (var call = 0; call < calls; call++)
            {
                var request = RequestFor(task, call);
                results[call] = new float[request.Sample.Length];
                own.Predict(request.Input, results[call]);
            }
            return results;
        })).ToArray();
        Task.WaitAll(concurrent);

        for (var task = 0; task < tasks; task++)
            for (var call = 0; call < calls; call++)
                Assert.That(concurrent[task].Result[call], Is.EqualTo(sequential[task][call]).Within(1e-6), $"task {task}, call {call}");
    }

    [TestCase("gaussian-eps.onnx", 3)]
    [TestCase("mixture-eps.onnx", 3)]
    [TestCase("gaussian-eps-fp16.onnx", 3)]
    [TestCase("gaussian-eps-t-int64-scalar.onnx", 3)]
    [TestCase("gaussian-eps-ehs.onnx", 3)]
    [TestCase("gaussian-eps-fixed-batch2.onnx", 3)]
    public void WarmPredict_ReusesItsBuffers_AndAllocatesLittle(string file, int batch)
    {
        var spec = Get(file);
        using var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        using var denoiser = (OnnxDenoiser)model.CreateDenoiser();
        var request = MakeRequest(spec, batch, 500, seed: 1);
        var output = new float[request.Sample.Length];
        for (var i = 0; i < 5; i++) denoiser.Predict(request.Input, output);

        const int calls = 200;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < calls; i++) denoiser.Predict(new DenoiserInput(request.Sample, request.Shape, 500 - i, request.Labels, request.HiddenStates), output);
        var perCall = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)calls;
        var runs = spec.FixedBatch is { } f ? (batch + f - 1) / f : 1;
        TestContext.Out.WriteLine($"{file}, batch {batch}: {perCall:F0} bytes allocated per warm Predict ({runs} ONNX Runtime run{(runs > 1 ? "s" : "")} per call)");
        // Measured: 0 bytes. The tensors are bound to the session once per shape (IOBinding), so a warm run passes
        // no names or handle arrays (ONNX Runtime's Run(names, values, …) overload allocates ~370 bytes per call).
        // The bound leaves room for runtime noise, but not for one reallocated buffer (the sample is 3·C·4·5 floats).
        Assert.That(perCall, Is.LessThan(64), "a warm Predict must not allocate");
        Assert.That(WorstError(spec, output, Expected(spec, request with { Timestep = 500 - calls + 1 })), Is.LessThanOrEqualTo(Tolerance(spec)));
    }

    [Test]
    public void ShapeChanges_RebuildTheTensors_AndResultsStayRight()
    {
        var spec = Get("gaussian-v.onnx");
        using var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        var denoiser = model.CreateDenoiser();
        foreach (var batch in new[] { 4, 1, 4, 2, 6 })
        {
            var request = MakeRequest(spec, batch, 300 + batch, seed: batch);
            var output = new float[request.Sample.Length];
            denoiser.Predict(request.Input, output);
            Assert.That(WorstError(spec, output, Expected(spec, request)), Is.LessThan(1e-5), $"batch {batch}");
        }
        // Another image size on the same denoiser.
        var big = new TensorShape(2, 1, 8, 3);
        var x = Enumerable.Range(0, big.Length).Select(i => (float)Math.Sin(i)).ToArray();
        var result = new float[big.Length];
        denoiser.Predict(new DenoiserInput(x, big, 77), result);
        var expected = Models.ClosedFormReference.Predict("gaussian", "v_prediction", x.Select(v => (double)v).ToArray(), 2, [77.0, 77.0]);
        Assert.That(WorstError(spec, result, expected), Is.LessThan(1e-5));
    }

    [Test]
    public void AnAllocationFailureInOnnxRuntime_IsAModelOutOfMemoryException_AndASmallerBatchStillRuns()
    {
        var spec = Get("gaussian-eps.onnx");
        var options = spec.Options();
        // Sessions that opt in use a process-wide CPU arena capped at 1 MiB: a big batch cannot get its intermediates.
        CappedArena.EnsureRegistered();
        options.ConfigureSession = so => so.AddSessionConfigEntry("session.use_env_allocators", "1");
        using var model = OnnxDiffusionModel.Load(spec.Path, options);
        var denoiser = model.CreateDenoiser();

        var shape = new TensorShape(64, 1, 128, 128); // 4 MiB per tensor
        var x = new float[shape.Length];
        var error = Assert.Throws<ModelOutOfMemoryException>(() => denoiser.Predict(new DenoiserInput(x, shape, 10), new float[shape.Length]))!;
        TestContext.Out.WriteLine(error.Message);
        Assert.That(error.Message, Does.Contain("gaussian-eps.onnx").And.Contain("batch of 64"));
        Assert.That(error.InnerException, Is.InstanceOf<OnnxRuntimeException>());

        var request = MakeRequest(spec, 2, 10, seed: 1);
        var output = new float[request.Sample.Length];
        denoiser.Predict(request.Input, output);
        Assert.That(WorstError(spec, output, Expected(spec, request)), Is.LessThan(1e-5));
    }

    [Test]
    public void DisposedModel_RefusesNewWork()
    {
        var spec = Get("gaussian-eps.onnx");
        var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        var denoiser = model.CreateDenoiser();
        model.Dispose();
        model.Dispose();
        var request = MakeRequest(spec, 1, 10, seed: 1);
        Assert.Throws<ObjectDisposedException>(() => model.CreateDenoiser());
        Assert.Throws<ObjectDisposedException>(() => denoiser.Predict(request.Input, new float[request.Sample.Length]));
    }

    /// <summary>
    /// Smoke test with the real digits model (<c>DIFFUSION_DIGITS_MODEL</c>, else the embedded copy beside the tests).
    /// </summary>
    [Test]
    public void DigitsModel_LoadsAndRunsOneBatchWithLabels()
    {
        var folder = Environment.GetEnvironmentVariable("DIFFUSION_DIGITS_MODEL") is { Length: > 0 } env ? env : Path.Combine(AppContext.BaseDirectory, "models", "digits");
        if (!File.Exists(Path.Combine(folder, "unet", "model.onnx"))) Assert.Ignore($"no digits model at {folder}");

        var logger = new ListLogger();
        using var model = OnnxDiffusionModel.Load(folder, logger: logger);
        var info = model.Info;
        Assert.Multiple(() =>
        {
            Assert.That(info.Channels, Is.EqualTo(1));
            Assert.That(info.Height ?? 28, Is.EqualTo(28));
            Assert.That(info.Width ?? 28, Is.EqualTo(28));
            Assert.That(info.FixedBatchSize, Is.Null);
            Assert.That(info.HasClassLabels, Is.True);
            Assert.That(info.NumClasses, Is.EqualTo(10));
            Assert.That(info.UnconditionalLabel, Is.EqualTo(10));
            Assert.That(model.SchedulerConfig, Is.Not.Null);
            Assert.That(model.SchedulerConfig!.PredictionType, Is.EqualTo(PredictionType.Epsilon));
        });

        // Pure noise at the last training timestep: an ε-model should give back (nearly) the noise itself.
        var shape = new TensorShape(4, 1, 28, 28);
        var rng = new Random(5);
        var x = Enumerable.Range(0, shape.Length).Select(_ => (float)Gaussian(rng)).ToArray();
        var output = new float[shape.Length];
        var started = System.Diagnostics.Stopwatch.StartNew();
        model.CreateDenoiser().Predict(new DenoiserInput(x, shape, 999, [0, 3, 7, 10]), output);
        Assert.That(output, Has.All.Matches<float>(float.IsFinite));
        var correlation = Correlation(x, output);
        TestContext.Out.WriteLine($"digits: one call on {shape} took {started.ElapsedMilliseconds} ms; corr(ε̂, x) at t = 999: {correlation:F3}");
    }

    private static double Correlation(float[] a, float[] b)
    {
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            sab += (a[i] - ma) * (b[i] - mb);
            saa += (a[i] - ma) * (a[i] - ma);
            sbb += (b[i] - mb) * (b[i] - mb);
        }
        return sab / Math.Sqrt(saa * sbb);
    }

    /// <summary>A CPU arena capped at 1 MiB, registered once per process with ONNX Runtime's environment.</summary>
    private static class CappedArena
    {
        private static readonly Lazy<bool> Registered = new(() =>
        {
            using var memory = new OrtMemoryInfo(OrtMemoryInfo.allocatorCPU, OrtAllocatorType.ArenaAllocator, 0, OrtMemType.Default);
            using var arena = new OrtArenaCfg(1 << 20, 1, -1, -1);
            OrtEnv.Instance().CreateAndRegisterAllocator(memory, arena);
            return true;
        });

        public static void EnsureRegistered() => _ = Registered.Value;
    }
}
