using Diffusion.Sdk.Sampling;
using System.Diagnostics;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>
/// Faults and shutdown on the real ONNX model: concurrent runs equal sequential ones, cancellation stops a run
/// inside a step, disposing the model mid-run ends it cleanly (in a child process, where a native crash would
/// show as a signal instead of killing the test host), and Ctrl-C stops the command line with nothing written.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ShutdownRobustnessTests
{
    private static readonly string BaseDirectory = AppContext.BaseDirectory;
    private static readonly string DigitsFolder = Path.Combine(BaseDirectory, "models", "digits");

    [Test]
    public async Task EightConcurrentGenerationsEqualTheSameEightRunInSequence()
    {
        using var model = OnnxDiffusionModel.Load(DigitsFolder);
        var pipeline = new DiffusionPipeline(model, TestHost.Factory);
        var samplers = new[] { "ddim", "ddpm", "dpm-solver", "euler", "euler-ancestral", "pndm", "ddim", "euler-ancestral" };
        GenerationRequest Request(int i) => new()
        {
            Sampling = new SamplingOptions { Sampler = samplers[i], Steps = 4, GuidanceScale = 2 }, BatchSize = 2, ClassLabel = i, Seed = (ulong)(100 + i),
        };
        var sequential = Enumerable.Range(0, 8).Select(i => pipeline.Generate(Request(i)).Latents).ToArray();
        var concurrent = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => pipeline.GenerateAsync(Request(i))));
        for (var i = 0; i < 8; i++) Assert.That(concurrent[i].Latents, Is.EqualTo(sequential[i]), $"run {i} ({samplers[i]})");
    }

    [Test]
    public void CancellingStopsARunInsideAModelCall()
    {
        using var model = OnnxDiffusionModel.Load(DigitsFolder);
        var pipeline = new DiffusionPipeline(model, TestHost.Factory);
        using var cancel = new CancellationTokenSource();
        var steps = 0;
        // One model call on 1024 images takes seconds on 2 cores: cancelling after 300 ms lands inside the first.
        var run = pipeline.GenerateAsync(new GenerationRequest
        {
            Sampling = new SamplingOptions { Sampler = "ddim", Steps = 50 }, BatchSize = 1024, ClassLabel = 2,
            OnStep = (_, _) => Interlocked.Increment(ref steps),
        }, cancellationToken: cancel.Token);
        cancel.CancelAfter(300);
        Assert.That(async () => await run, Throws.InstanceOf<OperationCanceledException>());
        Assert.That(steps, Is.Zero, "stopped inside the first step, not after it");
    }

    [TestCase("dispose-during-generation")]
    [TestCase("dispose-during-call")]
    public void DisposingTheModelMidRunEndsItCleanlyInAChildProcess(string probe)
    {
        Probe.AssertOk("ObjectDisposedException", TimeSpan.FromMinutes(3), probe, DigitsFolder);
    }

    [TestCase("INT")]
    [TestCase("TERM")]
    public void ASignalDuringSamplingStopsTheCommandLineWithNothingWritten(string signal)
    {
        var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "robust-signal-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var grid = Path.Combine(folder, "grid.png");
            var start = new ProcessStartInfo("dotnet", [Path.Combine(BaseDirectory, "generate.dll"), "--steps", "500", "--batch", "32", "--out", grid, "--out-dir", Path.Combine(folder, "set")])
            {
                RedirectStandardOutput = true, RedirectStandardError = true,
            };
            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEndAsync();
            // Plain progress lines (the output is redirected): signal once sampling is under way.
            string? line;
            while ((line = process.StandardOutput.ReadLine()) is not null && !line.Contains("step 1/")) { }
            Assert.That(line, Is.Not.Null, "sampling started");
            using (var kill = Process.Start("kill", [$"-{signal}", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
            var rest = process.StandardOutput.ReadToEndAsync();
            Assert.That(process.WaitForExit(TimeSpan.FromSeconds(30)), Is.True, "stopped within seconds");
            Assert.That(process.ExitCode, Is.EqualTo(130).Or.EqualTo(143), error.Result);
            Cli.AssertOneLineError(error.Result, "cancelled");
            Assert.That(rest.Result, Does.Not.Contain("wrote"));
            Assert.That(Directory.GetFileSystemEntries(folder), Is.Empty, "nothing written, no staging left");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
