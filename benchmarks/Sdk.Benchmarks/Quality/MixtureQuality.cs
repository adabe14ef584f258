using System.Diagnostics;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk;

namespace Diffusion.Benchmarks.Quality;

/// <summary>
/// Sample quality per network evaluation on the closed-form mixture network (<c>mixture-eps.onnx</c>: the exact ε
/// of x₀ ~ ½N(−0.5·1, 0.2²I) + ½N(+0.5·1, 0.2²I) over whole items), where the data distribution is known exactly.
/// Each sampler generates <see cref="Samples"/> unconditional items of 1×1×2×2 through the pipeline, and the sliced
/// Wasserstein-1 distance to a set of as many exact samples measures how far its output is from the data. The same
/// statistic between the reference set and independent exact sets is the noise floor: no sampler can be told apart
/// from the data below it.
/// </summary>
public static class MixtureQuality
{
    /// <summary>Samples per set.</summary>
    public const int Samples = 10_000;

    /// <summary>Projection directions of the sliced distance.</summary>
    public const int Directions = 256;

    /// <summary>The NFE grid.</summary>
    public static readonly int[] NfeGrid = [5, 10, 20, 50, 100, 250, 1000];

    private const int Height = 2, Width = 2, Dimension = Height * Width;
    private const double ComponentMean = 0.5, ComponentStd = 0.2;
    private const ulong GenerationSeed = 2024;
    private const int FloorDraws = 5;

    /// <summary>Runs the grid.</summary>
    public static MixtureQualityResult Run(ISamplerFactory factory, Action<string> log)
    {
        var clock = Stopwatch.StartNew();
        var modelConfig = SchedulerConfigJson.Load(Path.Combine(Repository.DigitsModel, "scheduler", "scheduler_config.json"));
        using var model = OnnxDiffusionModel.Load(Repository.MixtureModel, new OnnxModelOptions
        {
            // The same schedule as the digits model (linear β, 1000 steps, ε): its scheduler_config.json, trailing spacing.
            SchedulerConfig = modelConfig, UnconditionalLabel = 2, NumClasses = 2,
        });
        var pipeline = new DiffusionPipeline(model, factory);
        var sliced = new SlicedWasserstein(Dimension, Directions, seed: 11);

        var reference = sliced.Project(ExactSamples(Samples, seed: 100));
        var floor = Enumerable.Range(1, FloorDraws).Select(k => SlicedWasserstein.Distance(reference, sliced.Project(ExactSamples(Samples, seed: (ulong)(100 + k))))).ToArray();
        var floorMean = floor.Average();
        var floorStd = Math.Sqrt(floor.Sum(d => (d - floorMean) * (d - floorMean)) / (floor.Length - 1));
        var standardNormal = new float[Samples * Dimension];
        new TorchGaussianNoise(99).NextGaussian(standardNormal);
        var standardNormalDistance = SlicedWasserstein.Distance(reference, sliced.Project(standardNormal));
        log($"mixture: noise floor {floorMean:F4} ± {floorStd:F4} (exact vs exact, {Samples:N0} each); N(0, I) scores {standardNormalDistance:F4}");

        var points = new List<MixturePoint>();
        foreach (var variant in SamplerVariant.All)
        {
            foreach (var nfe in NfeGrid)
            {
                if (variant.StepsForNfe(nfe) is not { } steps) continue;
                var run = Stopwatch.StartNew();
                var result = pipeline.Generate(new GenerationRequest
                {
                    Sampling = variant.Options(steps, guidance: 1),
                    BatchSize = Samples, Height = Height, Width = Width, Seed = GenerationSeed,
                });
                run.Stop();
                if (result.ModelEvaluations != variant.EvaluationsFor(steps))
                    throw new InvalidOperationException($"{variant.Label} with {steps} steps made {result.ModelEvaluations} network calls, not {variant.EvaluationsFor(steps)}.");
                var distance = SlicedWasserstein.Distance(reference, sliced.Project(result.Latents));
                points.Add(new MixturePoint(variant.Key, variant.Label, nfe, steps, result.ModelEvaluations, distance, Math.Round(run.Elapsed.TotalSeconds, 3)));
                log($"mixture: {variant.Label,-18} NFE {nfe,4} ({steps,4} steps): SW1 {distance:F4}  [{run.Elapsed.TotalSeconds:F1} s]");
            }
        }

        var ddpm1000 = points.Single(p => p.Sampler == "ddpm" && p.Nfe == 1000).Distance;
        var reach = SamplerVariant.All.Select(v => new ReachPoint(v.Key, v.Label,
            points.Where(p => p.Sampler == v.Key && p.Distance <= 1.1 * ddpm1000).Select(p => (int?)p.Nfe).Min())).ToList();

        return new MixtureQualityResult
        {
            Model = "tests/Sdk.Tests/TestData/models/mixture-eps.onnx",
            ItemShape = $"1×1×{Height}×{Width}",
            Samples = Samples,
            Statistic = "sliced Wasserstein-1",
            Directions = Directions,
            Seed = GenerationSeed,
            NfeGrid = NfeGrid,
            FloorMean = floorMean,
            FloorStd = floorStd,
            FloorDraws = floor,
            StandardNormalDistance = standardNormalDistance,
            Ddpm1000Distance = ddpm1000,
            Points = points,
            WithinTenPercentOfDdpm1000 = reach,
            Seconds = Math.Round(clock.Elapsed.TotalSeconds, 1),
        };
    }

    /// <summary>Exact draws: a component ±0.5 with probability ½ each, plus 0.2·N(0, I) on every element of the item.</summary>
    public static float[] ExactSamples(int count, ulong seed)
    {
        var values = new float[count * Dimension];
        new TorchGaussianNoise(seed).NextGaussian(values);
        var components = new Random((int)seed);
        for (var i = 0; i < count; i++)
        {
            var mean = components.Next(2) == 0 ? -ComponentMean : ComponentMean;
            for (var j = 0; j < Dimension; j++) values[i * Dimension + j] = (float)(mean + ComponentStd * values[i * Dimension + j]);
        }
        return values;
    }
}
