using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Pipeline;

namespace Diffusion.Benchmarks.Quality;

/// <summary>
/// CFG++ against plain classifier-free guidance at equal NFE on the embedded digits model, measured as the quality
/// suite's digits table measures (<see cref="DigitsQuality.Measure"/>: 100 digits per point, 10 per class, the same
/// seeds, classifier accuracy and Fréchet distance to the real digits). Both make one guided call (conditional and
/// unconditional items in one batch) per step, so equal steps are equal NFE and equal network work. Plain guidance at
/// the quality suite's w = 3; CFG++ at λ = 0.6 (the command line's default) and 1.
/// </summary>
public static class DigitsCfgPlusPlus
{
    private static readonly int[] Nfe = [10, 20];
    private const double PlainGuidance = 3;
    private static readonly double[] Lambdas = [0.6, 1.0];

    private static readonly SamplerVariant[] Samplers =
    [
        new("euler", "Euler", SamplerNames.Euler),
        new("euler-ancestral", "Euler ancestral", SamplerNames.EulerAncestral),
        new("dpm-2m", "DPM-Solver++ 2M", SamplerNames.DpmSolver),
    ];

    /// <summary>Measures every point and logs a Markdown table (the numbers docs/wrappers.md records).</summary>
    public static void Run(ISamplerFactory factory, Action<string> log)
    {
        using var model = OnnxDiffusionModel.Load(Repository.DigitsModel);
        using var classifier = new DigitClassifier(Repository.Classifier);
        var pipeline = new DiffusionPipeline(model, factory);
        const ulong seed = 3000;
        const int samples = 100;
        log("| sampler | guidance | " + string.Join(" | ", Nfe.Select(n => $"NFE {n}: accuracy | NFE {n}: Fréchet")) + " |");
        log("| --- | --- | " + string.Join(" | ", Nfe.Select(_ => "---: | ---:")) + " |");
        foreach (var sampler in Samplers)
        {
            var settings = new List<(string Label, SamplerVariant Variant, double Scale)> { ($"CFG w = {PlainGuidance}", sampler, PlainGuidance) };
            foreach (var lambda in Lambdas) settings.Add(($"CFG++ λ = {lambda:0.0}", sampler with { CfgPlusPlus = true }, lambda));
            foreach (var (label, variant, scale) in settings)
            {
                var cells = new List<string>();
                foreach (var nfe in Nfe)
                {
                    var (point, _) = DigitsQuality.Measure(pipeline, classifier, variant, nfe, nfe, scale, samples, seed);
                    cells.Add($"{point.Accuracy:P0} | {point.Frechet:F3}");
                }
                log($"| {sampler.Label} | {label} | {string.Join(" | ", cells)} |");
            }
        }
    }
}
