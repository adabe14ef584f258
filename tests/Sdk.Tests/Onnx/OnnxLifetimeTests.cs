using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Onnx;

/// <summary>
/// Cancellation (here) and disposal (in a child process, Robustness/ShutdownRobustnessTests) reach a running model call: ONNX Runtime's terminate flag stops it, the call ends
/// with <see cref="OperationCanceledException"/> or <see cref="ObjectDisposedException"/>, and the session is
/// released only after the call has returned (disposing it under a running call would crash in native code).
/// </summary>
[TestFixture]
public sealed class OnnxLifetimeTests
{
    private static readonly string DigitsFolder = Path.Combine(AppContext.BaseDirectory, "models", "digits");

    // One call on this batch takes seconds on 2 cores, long enough to be stopped in the middle.
    private const int LongBatch = 2048;

    [Test]
    public void CancellingStopsALongModelCallFromInside()
    {
        using var model = OnnxDiffusionModel.Load(DigitsFolder);
        using var denoiser = model.CreateDenoiser();
        var (sample, shape, labels) = LongRequest(model);
        var output = new float[sample.Length];
        using var cancel = new CancellationTokenSource();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var call = Task.Run(() => denoiser.Predict(new DenoiserInput(sample, shape, 500, labels), output, cancel.Token));
        Thread.Sleep(200);
        cancel.Cancel();
        Assert.That(() => call.GetAwaiter().GetResult(), Throws.InstanceOf<OperationCanceledException>());
        var stopped = clock.Elapsed;

        // The same denoiser still works afterwards (the terminate flag was reset), and a full call takes longer
        // than the cancelled one did, so the cancelled call was stopped inside the runtime.
        clock.Restart();
        denoiser.Predict(new DenoiserInput(sample, shape, 500, labels), output);
        Assert.That(clock.Elapsed, Is.GreaterThan(stopped - TimeSpan.FromMilliseconds(200)), "a whole call outlasts the stopped one");
        Assert.That(output.All(float.IsFinite), Is.True);
    }

    // Disposing the model during a call or a generation is probed in a child process, where a native crash fails
    // one test instead of the test host: Robustness/ShutdownRobustnessTests and tests/Probes.

    private static (float[] Sample, TensorShape Shape, long[] Labels) LongRequest(IDiffusionModel model)
    {
        var info = model.Info;
        var shape = new TensorShape(LongBatch, info.Channels, info.Height!.Value, info.Width!.Value);
        var sample = new float[shape.Length];
        new Diffusion.Sdk.Sampling.TorchGaussianNoise(1).NextGaussian(sample);
        return (sample, shape, Enumerable.Repeat(1L, LongBatch).ToArray());
    }
}
