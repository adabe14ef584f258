// The one-shot CUDA check: runs the digits UNet and the Stable Diffusion test UNet on the CUDA provider and on the CPU,
// and writes what it saw to a JSON file and the console.
//
//   GpuCheck --digits models/digits --sd-unet out/onnx-settings/sd-tiny-unet-float32.onnx
//            --sd-scheduler <sd pipeline>/scheduler/scheduler_config.json --out gpu-check.json
//
// For each model and batch size: the largest |CUDA − CPU| of one call at several timesteps, model calls per second on
// each provider (median of 5 blocks of at least 1 s), and a whole 20-step DDIM generation with guidance (median of 3).
// Exit code 0 when CUDA loaded and matched the CPU within 1e-2, 1 when it did not, 2 on bad arguments.
using System.Diagnostics;
using System.Text.Json;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

var arguments = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i + 1 < args.Length; i += 2) arguments[args[i]] = args[i + 1];
if (!arguments.TryGetValue("--digits", out var digits) || !arguments.TryGetValue("--out", out var outFile))
{
    Console.Error.WriteLine("usage: GpuCheck --digits <digits pipeline folder> [--sd-unet <file> --sd-scheduler <scheduler_config.json>] --out <json>");
    return 2;
}

var services = new ServiceCollection();
services.AddDiffusionSampling().AddDdimSampler();
using var host = services.BuildServiceProvider();
var factory = host.GetRequiredService<ISamplerFactory>();

var report = new List<ModelReport>();
var ok = true;
ok &= Check("digits UNet", digits, new OnnxModelOptions(), [2, 16], tokens: 0);
if (arguments.TryGetValue("--sd-unet", out var sdUnet) && arguments.TryGetValue("--sd-scheduler", out var sdScheduler))
    ok &= Check("SD test UNet", sdUnet, new OnnxModelOptions { SchedulerConfig = SchedulerConfigJson.Load(sdScheduler) }, [2, 16], tokens: 77);

var json = JsonSerializer.Serialize(new { date = DateTimeOffset.UtcNow, ok, models = report }, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
File.WriteAllText(outFile, json + "\n");
Console.WriteLine($"{(ok ? "OK" : "FAILED")}: wrote {outFile}");
return ok ? 0 : 1;

bool Check(string label, string path, OnnxModelOptions options, int[] batches, int tokens)
{
    Console.WriteLine($"== {label}: {path}");
    using var cpu = OnnxDiffusionModel.Load(path, Copy(options, OnnxExecutionProvider.Cpu));
    OnnxDiffusionModel cuda;
    var clock = Stopwatch.StartNew();
    try
    {
        cuda = OnnxDiffusionModel.Load(path, Copy(options, OnnxExecutionProvider.Cuda));
    }
    catch (ModelLoadException e)
    {
        Console.WriteLine($"CUDA did not load: {e.Message}");
        report.Add(new ModelReport(label, path, clock.Elapsed.TotalSeconds, e.Message, []));
        return false;
    }
    var loadSeconds = clock.Elapsed.TotalSeconds;
    using (cuda)
    {
        var rows = new List<BatchReport>();
        var ok = true;
        foreach (var batch in batches)
        {
            var shape = new TensorShape(batch, cpu.Info.Channels, cpu.Info.Height ?? 8, cpu.Info.Width ?? 8);
            var (sample, labels, hidden) = Inputs(shape, tokens, cpu.Info);
            using var onCpu = (OnnxDenoiser)cpu.CreateDenoiser();
            using var onCuda = (OnnxDenoiser)cuda.CreateDenoiser();
            var a = new float[sample.Length];
            var b = new float[sample.Length];
            var worst = 0.0;
            foreach (var t in new[] { 999.0, 500, 1 })
            {
                onCpu.Predict(new DenoiserInput(sample, shape, t, labels, hidden), a);
                onCuda.Predict(new DenoiserInput(sample, shape, t, labels, hidden), b);
                for (var i = 0; i < a.Length; i++) worst = Math.Max(worst, Math.Abs((double)a[i] - b[i]));
            }
            double Rate(OnnxDenoiser d) => CallsPerSecond(() => d.Predict(new DenoiserInput(sample, shape, 500, labels, hidden), a));
            var (cpuRate, cudaRate) = (Rate(onCpu), Rate(onCuda));
            var (cpuGeneration, cudaGeneration, latentDifference) = Generations(cpu, cuda, shape, labels, hidden, tokens);
            var row = new BatchReport(batch, worst, cpuRate, cudaRate, cpuGeneration, cudaGeneration, latentDifference);
            rows.Add(row);
            ok &= worst < 1e-2;
            Console.WriteLine($"batch {batch,3}: max |CUDA − CPU| {worst:E2}; calls/s CPU {cpuRate:F1}, CUDA {cudaRate:F1} ({cudaRate / cpuRate:F1}×); " +
                              $"20-step guided DDIM generation CPU {cpuGeneration:F3} s, CUDA {cudaGeneration:F3} s; final latents max |Δ| {latentDifference:E2}");
        }
        report.Add(new ModelReport(label, path, loadSeconds, null, rows));
        return ok;
    }
}

(double Cpu, double Cuda, double LatentDifference) Generations(OnnxDiffusionModel cpu, OnnxDiffusionModel cuda, TensorShape shape, long[] labels, float[] hidden, int tokens)
{
    // Applied over the model's own scheduler configuration by the sampler factory.
    var sampling = new SamplingOptions { Sampler = SamplerNames.Ddim, Steps = 20, GuidanceScale = 3 };
    var request = new GenerationRequest
    {
        Sampling = sampling, BatchSize = shape.Batch, Seed = 3,
        ClassLabels = tokens == 0 ? labels : null,
        EncoderHiddenStates = tokens > 0 ? hidden : null,
        UnconditionalHiddenStates = tokens > 0 ? new float[hidden.Length] : null,
    };
    var onCpu = new DiffusionPipeline(cpu, factory);
    var onCuda = new DiffusionPipeline(cuda, factory);
    var x = onCpu.Generate(request).Latents;
    var y = onCuda.Generate(request).Latents;
    var worst = x.Zip(y, (p, q) => Math.Abs((double)p - q)).Max();
    return (Median(3, () => onCpu.Generate(request)), Median(3, () => onCuda.Generate(request)), worst);
}

static (float[] Sample, long[] Labels, float[] Hidden) Inputs(TensorShape shape, int tokens, ModelInfo info)
{
    var noise = new TorchGaussianNoise(11);
    var sample = new float[shape.Length];
    noise.NextGaussian(sample);
    var labels = info.HasClassLabels ? Enumerable.Range(0, shape.Batch).Select(i => (long)(i % (info.NumClasses ?? 10))).ToArray() : [];
    var hidden = new float[tokens > 0 ? shape.Batch * (info.EncoderHiddenStatesLength ?? tokens * 32) : 0];
    noise.NextGaussian(hidden);
    return (sample, labels, hidden);
}

static double CallsPerSecond(Action call)
{
    for (var i = 0; i < 3; i++) call();
    var rates = new List<double>();
    for (var block = 0; block < 5; block++)
    {
        var n = 0;
        var start = Stopwatch.GetTimestamp();
        do { call(); n++; } while (Stopwatch.GetElapsedTime(start).TotalSeconds < 1);
        rates.Add(n / Stopwatch.GetElapsedTime(start).TotalSeconds);
    }
    return rates.Order().ElementAt(2);
}

static double Median(int count, Action run)
{
    var times = new List<double>();
    for (var i = 0; i < count; i++)
    {
        var start = Stopwatch.GetTimestamp();
        run();
        times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
    }
    return times.Order().ElementAt(count / 2);
}

static OnnxModelOptions Copy(OnnxModelOptions o, OnnxExecutionProvider provider) => new()
{
    ExecutionProvider = provider, SchedulerConfig = o.SchedulerConfig, NumTrainTimesteps = o.NumTrainTimesteps, PredictionType = o.PredictionType,
};

/// <summary>One model on CUDA: when loading failed, the error; else one row per batch size.</summary>
internal sealed record ModelReport(string Model, string Path, double CudaLoadSeconds, string? CudaError, List<BatchReport> Batches);

/// <summary>One batch size: CUDA against the CPU.</summary>
internal sealed record BatchReport(int Batch, double MaxAbsDifference, double CpuCallsPerSecond, double CudaCallsPerSecond,
    double CpuGenerationSeconds, double CudaGenerationSeconds, double FinalLatentsMaxAbsDifference);
