using System.Diagnostics;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Lora;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.StableDiffusion;
using static Diffusion.Benchmarks.Infrastructure.SideBySide;

namespace Diffusion.Benchmarks.Lora;

/// <summary>The lora suite's numbers.</summary>
/// <param name="Adapters">The adapters merged, as FILE:WEIGHT.</param>
/// <param name="Modules">Modules merged (over the adapters).</param>
/// <param name="LoadPlainMs">Median time of <c>StableDiffusionModel.Load</c> without adapters.</param>
/// <param name="LoadLoraMs">Median time with the adapters (read, mapped, merged, and fed as initializer overrides).</param>
/// <param name="LoadRatio">Median over rounds of with ÷ without, measured in the same round.</param>
/// <param name="LoadRatioLow">Lower quartile of the per-round load ratios.</param>
/// <param name="LoadRatioHigh">Upper quartile.</param>
/// <param name="GeneratePlainMs">Median time of one generation on the model without adapters.</param>
/// <param name="GenerateLoraMs">The same on the model with them.</param>
/// <param name="GenerateRatio">Median over rounds of with ÷ without.</param>
/// <param name="GenerateRatioLow">Lower quartile of the per-round generation ratios.</param>
/// <param name="GenerateRatioHigh">Upper quartile.</param>
/// <param name="Rounds">Rounds measured (each: one load or generation of either side, in alternating order).</param>
/// <param name="IntraOpThreads">ONNX Runtime threads per operator.</param>
/// <param name="Seconds">Duration of the suite.</param>
public sealed record LoraLoadResult(string Adapters, int Modules, double LoadPlainMs, double LoadLoraMs, double LoadRatio, double LoadRatioLow, double LoadRatioHigh,
    double GeneratePlainMs, double GenerateLoraMs, double GenerateRatio, double GenerateRatioLow, double GenerateRatioHigh, int Rounds, int IntraOpThreads, double Seconds);

/// <summary>
/// LoRA at load time on the tiny SD fixture, side by side in one process: loading the export with the reference's
/// two adapters (case R2: K1 at 0.6 and the float16 K2 at 0.5, 65 modules over the UNet and the text encoder) against
/// loading it without, and then one generation (case A1's request: PNDM, 6 steps, guidance 7.5, 64×64) on each model.
/// The two sides alternate round after round; each ratio is the median of the per-round ratios.
/// </summary>
public static class LoraLoadSuite
{
    public static LoraLoadResult Run(ISamplerFactory factory, int rounds, Action<string> log)
    {
        var clock = Stopwatch.StartNew();
        var threads = Environment.ProcessorCount;
        var folder = Repository.Path("tests", "Sdk.Tests", "TestData", "sd-tiny-legacy", "model");
        var adapters = new[]
        {
            new LoraAdapter(Repository.Path("tests", "Sdk.Tests", "TestData", "lora", "adapters", "kohya_k1_rank4_fp32.safetensors"), 0.6),
            new LoraAdapter(Repository.Path("tests", "Sdk.Tests", "TestData", "lora", "adapters", "kohya_k2_rank4_fp16.safetensors"), 0.5),
        };
        StableDiffusionOptions Options(IList<LoraAdapter> loras) => new() { Onnx = new OnnxModelOptions { IntraOpThreads = threads }, Loras = loras };

        // Warm-up: the first load pays for JIT and ONNX Runtime's one-time setup on either side.
        StableDiffusionModel.Load(folder, Options([])).Dispose();
        StableDiffusionModel.Load(folder, Options(adapters)).Dispose();
        var plainLoads = new List<double>();
        var loraLoads = new List<double>();
        for (var r = 0; r < rounds; r++)
        {
            double TimeLoad(IList<LoraAdapter> loras)
            {
                var start = Stopwatch.GetTimestamp();
                var model = StableDiffusionModel.Load(folder, Options(loras));
                var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                model.Dispose();
                return ms;
            }
            if (r % 2 == 0) { plainLoads.Add(TimeLoad([])); loraLoads.Add(TimeLoad(adapters)); }
            else { loraLoads.Add(TimeLoad(adapters)); plainLoads.Add(TimeLoad([])); }
        }

        using var plain = StableDiffusionModel.Load(folder, Options([]));
        using var merged = StableDiffusionModel.Load(folder, Options(adapters));
        var modules = merged.Lora.Adapters.Sum(a => a.Applied.Count());
        var request = new StableDiffusionRequest { Prompt = "a photograph of an astronaut riding a horse", Steps = 6, GuidanceScale = 7.5, Seed = 42, Width = 64, Height = 64 };
        var plainPipeline = new StableDiffusionPipeline(plain, factory);
        var loraPipeline = new StableDiffusionPipeline(merged, factory);
        plainPipeline.Generate(request);
        loraPipeline.Generate(request);
        var plainRuns = new List<double>();
        var loraRuns = new List<double>();
        for (var r = 0; r < 3 * rounds; r++)
        {
            if (r % 2 == 0) { plainRuns.Add(Time(() => plainPipeline.Generate(request))); loraRuns.Add(Time(() => loraPipeline.Generate(request))); }
            else { loraRuns.Add(Time(() => loraPipeline.Generate(request))); plainRuns.Add(Time(() => plainPipeline.Generate(request))); }
        }
        var loadRatios = loraLoads.Zip(plainLoads, (l, p) => l / p).ToList();
        var runRatios = loraRuns.Zip(plainRuns, (l, p) => l / p).ToList();
        var result = new LoraLoadResult(string.Join(", ", adapters.Select(a => $"{Path.GetFileName(a.Path)}:{a.Weight}")), modules,
            Quantile(plainLoads, 0.5), Quantile(loraLoads, 0.5), Quantile(loadRatios, 0.5), Quantile(loadRatios, 0.25), Quantile(loadRatios, 0.75),
            Quantile(plainRuns, 0.5), Quantile(loraRuns, 0.5), Quantile(runRatios, 0.5), Quantile(runRatios, 0.25), Quantile(runRatios, 0.75),
            rounds, threads, Math.Round(clock.Elapsed.TotalSeconds, 1));
        log($"lora: load {result.LoadPlainMs:F1} ms without, {result.LoadLoraMs:F1} ms with {modules} modules; with ÷ without {result.LoadRatio:F3} ({result.LoadRatioLow:F3}–{result.LoadRatioHigh:F3}); " +
            $"generation {result.GeneratePlainMs:F1} ms without, {result.GenerateLoraMs:F1} ms with: {result.GenerateRatio:F3} ({result.GenerateRatioLow:F3}–{result.GenerateRatioHigh:F3}); {rounds} load rounds, {3 * rounds} generation rounds");
        return result;
    }
}
