using System.Diagnostics;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Microsoft.Extensions.DependencyInjection;

namespace Diffusion.Benchmarks.Quality;

/// <summary>
/// The adaptive sampler's quality per network evaluation on the closed-form mixture network of
/// <see cref="MixtureQuality"/> (same model, schedule, seed, 10,000 items, sliced W1 over 256 directions), at a
/// ladder of tolerances, next to fixed-schedule samplers at similar evaluation counts measured in the same run, and
/// the cost of one evaluation (wall time ÷ evaluations) of each, so that the adaptive bookkeeping is priced.
/// </summary>
public static class MixtureAdaptive
{
    private const int Height = 2, Width = 2, Dimension = Height * Width;
    private const ulong GenerationSeed = 2024;

    private static readonly (double Rtol, double Atol)[] Tolerances = [(0.2, 0.04), (0.1, 0.02), (0.05, 0.0078), (0.02, 0.004), (0.01, 0.002), (0.005, 0.001), (0.002, 0.0004)];
    private static readonly (string Label, string Sampler, int Steps)[] Fixed =
        [("DDIM", "ddim", 10), ("DDIM", "ddim", 20), ("DDIM", "ddim", 50), ("DPM-Solver++ 2M", "dpm-solver", 10), ("DPM-Solver++ 2M", "dpm-solver", 20), ("DPM-Solver++ 2M", "dpm-solver", 50)];

    /// <summary>Runs the ladder and logs a Markdown table (the numbers docs/adaptive.md records).</summary>
    public static void Run(Action<string> log)
    {
        var services = new ServiceCollection();
        services.AddDiffusionSampling().AddDdimSampler().AddDpmSolverSampler().AddDpmAdaptiveSampler();
        using var host = services.BuildServiceProvider();
        var factory = host.GetRequiredService<ISamplerFactory>();
        var modelConfig = SchedulerConfigJson.Load(Path.Combine(Repository.DigitsModel, "scheduler", "scheduler_config.json"));
        using var model = OnnxDiffusionModel.Load(Repository.MixtureModel, new OnnxModelOptions { SchedulerConfig = modelConfig, UnconditionalLabel = 2, NumClasses = 2 });
        var pipeline = new DiffusionPipeline(model, factory);
        var sliced = new SlicedWasserstein(Dimension, MixtureQuality.Directions, seed: 11);
        var reference = sliced.Project(MixtureQuality.ExactSamples(MixtureQuality.Samples, seed: 100));
        var floor = SlicedWasserstein.Distance(reference, sliced.Project(MixtureQuality.ExactSamples(MixtureQuality.Samples, seed: 101)));
        log($"mixture: exact vs exact {floor * 1000:F1} ×10⁻³ (the noise floor)");
        log("| sampler | setting | steps (rejected) | NFE | sliced W1 ×1000 | ms per evaluation |");
        log("| --- | --- | ---: | ---: | ---: | ---: |");
        void Measure(string label, string setting, SamplingOptions options)
        {
            pipeline.Generate(new GenerationRequest { Sampling = options, BatchSize = 16, Height = Height, Width = Width, Seed = 1 }); // warm
            var clock = Stopwatch.StartNew();
            var result = pipeline.Generate(new GenerationRequest { Sampling = options, BatchSize = MixtureQuality.Samples, Height = Height, Width = Width, Seed = GenerationSeed });
            clock.Stop();
            var distance = SlicedWasserstein.Distance(reference, sliced.Project(result.Latents));
            var steps = result.RejectedSteps > 0 ? $"{result.Timesteps.Count} ({result.RejectedSteps})" : $"{result.Timesteps.Count}";
            log($"| {label} | {setting} | {steps} | {result.ModelEvaluations} | {distance * 1000:F1} | {clock.Elapsed.TotalMilliseconds / result.ModelEvaluations:F2} |");
        }
        foreach (var (rtol, atol) in Tolerances)
            Measure("dpm-adaptive (DPM-Solver-2/3)", $"rtol {rtol}, atol {atol}", new SamplingOptions { Sampler = SamplerNames.DpmAdaptive, Rtol = rtol, Atol = atol, GuidanceScale = 1 });
        foreach (var (label, sampler, steps) in Fixed)
            Measure(label, $"{steps} steps", new SamplingOptions { Sampler = sampler, Steps = steps, GuidanceScale = 1 });
    }
}
