using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;

namespace Diffusion.Benchmarks.Quality;

/// <summary>
/// What averaging samplers does to samples, on the closed-form mixture network of <see cref="MixtureQuality"/> (same
/// model, schedule, seed, 10,000 items, sliced W1 over 256 directions): each ensemble against its members alone at
/// the same steps and against one member given the ensemble's whole budget. A second statistic shows the blur
/// directly: the share of items whose mean lies between the two components (|mean| &lt; 0.25, where the data put
/// under 1 % of their items), which an average of two samples that chose different components lands in.
/// </summary>
public static class MixtureEnsembles
{
    private const int Height = 2, Width = 2, Dimension = Height * Width;
    private const ulong GenerationSeed = 2024;

    /// <summary>The measured configurations: a label, the ensemble (or one sampler) and the steps of each member.</summary>
    private static readonly (string Label, string Ensemble, int Steps)[] Points =
    [
        ("DDIM", "ddim:1", 10), ("DPM-Solver++ 2M", "dpm-solver:1", 10), ("DDIM", "ddim:1", 20), ("DPM-Solver++ 2M", "dpm-solver:1", 20),
        ("½ DDIM + ½ DPM-Solver++ 2M", "ddim:0.5,dpm-solver:0.5", 10),
        ("Euler ancestral", "euler-ancestral:1", 10),
        ("½ DDIM + ½ Euler ancestral", "ddim:0.5,euler-ancestral:0.5", 10),
        ("DDPM", "ddpm:1", 10),
        ("½ DDPM + ½ DDIM", "ddpm:0.5,ddim:0.5", 10),
        ("2·DPM-Solver++ 2M − DDIM", "dpm-solver:2,ddim:-1", 10),
        ("DDIM", "ddim:1", 50), ("DPM-Solver++ 2M", "dpm-solver:1", 50), ("DDIM", "ddim:1", 100),
        ("½ DDIM + ½ DPM-Solver++ 2M", "ddim:0.5,dpm-solver:0.5", 50),
        ("½ DDIM + ½ Euler ancestral", "ddim:0.5,euler-ancestral:0.5", 50),
    ];

    /// <summary>Runs every point and logs a Markdown table (the numbers docs/ensembles.md records).</summary>
    public static void Run(ISamplerFactory factory, Action<string> log)
    {
        var modelConfig = SchedulerConfigJson.Load(Path.Combine(Repository.DigitsModel, "scheduler", "scheduler_config.json"));
        using var model = OnnxDiffusionModel.Load(Repository.MixtureModel, new OnnxModelOptions { SchedulerConfig = modelConfig, UnconditionalLabel = 2, NumClasses = 2 });
        var pipeline = new DiffusionPipeline(model, factory);
        var sliced = new SlicedWasserstein(Dimension, MixtureQuality.Directions, seed: 11);
        var exact = MixtureQuality.ExactSamples(MixtureQuality.Samples, seed: 100);
        var reference = sliced.Project(exact);
        log($"exact data: {Between(exact):P2} of items between the components");
        log("| sampler | steps per member | NFE | sliced W1 ×1000 | items between components |");
        log("| --- | ---: | ---: | ---: | ---: |");
        foreach (var (label, text, steps) in Points)
        {
            var result = pipeline.Generate(new GenerationRequest
            {
                Sampling = new SamplingOptions { Steps = steps, GuidanceScale = 1 },
                Ensemble = SamplerEnsemble.Parse(text),
                BatchSize = MixtureQuality.Samples, Height = Height, Width = Width, Seed = GenerationSeed,
            });
            var distance = SlicedWasserstein.Distance(reference, sliced.Project(result.Latents));
            log($"| {label} | {steps} | {result.ModelEvaluations} | {distance * 1000:F1} | {Between(result.Latents):P2} |");
        }
    }

    private static double Between(float[] items)
    {
        var count = 0;
        for (var i = 0; i < items.Length; i += Dimension)
        {
            var mean = 0.0;
            for (var j = 0; j < Dimension; j++) mean += items[i + j];
            if (Math.Abs(mean / Dimension) < 0.25) count++;
        }
        return (double)count / (items.Length / Dimension);
    }
}
