using System.Diagnostics;
using System.Globalization;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.StableDiffusion;

namespace Diffusion.Benchmarks.Quality;

/// <summary>
/// The `tiny-sd` suite: how well the embedded text-to-image model (<c>models/tiny-sd</c>) follows its prompts, measured
/// through the SDK's own Stable Diffusion pipeline with the model's own sampler (its <c>scheduler_config.json</c>), 20
/// steps, seeds 0–9 for every prompt, and judged by the project's digit classifier and the caption measures
/// (<see cref="DigitMeasures"/>). Prints its tables (docs/models.md records them) and writes the ten-digit grid.
/// </summary>
public static class TinySdQuality
{
    /// <summary>Inference steps of every measurement.</summary>
    public const int Steps = 20;

    /// <summary>Guidance of the attribute measurements and of the grid.</summary>
    public const double Guidance = 5;

    /// <summary>Seeds per prompt.</summary>
    public const int Seeds = 10;

    private static readonly double[] GuidanceScales = [1, 3, 5, 7.5];

    /// <summary>Runs the measurements, prints them through <paramref name="log"/> and writes <c>tiny-sd-grid.png</c> into <paramref name="imagesFolder"/>.</summary>
    public static void Run(ISamplerFactory factory, string imagesFolder, Action<string> log)
    {
        var clock = Stopwatch.StartNew();
        using var model = StableDiffusionModel.Load(Repository.TinySdModel, new StableDiffusionOptions { Onnx = new OnnxModelOptions { IntraOpThreads = 1 } });
        var pipeline = new StableDiffusionPipeline(model, factory);
        using var classifier = new DigitClassifier(Repository.Classifier);
        var measure = new TinySdMeasurement(pipeline, classifier);

        log($"tiny-sd: {model.Folder}, sampler from its scheduler_config.json, {Steps} steps, seeds 0–{Seeds - 1} per prompt");
        log("| guidance | \"a handwritten N\", classifier says N | per digit 0…9 |");
        log("| ---: | ---: | --- |");
        TinySdSet? atGuidance = null;
        foreach (var guidance in GuidanceScales)
        {
            var set = measure.Digits(d => $"a handwritten {d}", null, guidance);
            if (guidance == Guidance) atGuidance = set;
            log($"| {guidance.ToString(CultureInfo.InvariantCulture)} | {set.Accuracy:P1} ({set.Correct}/{set.Count}) | {string.Join(" ", set.PerDigit.Select(a => a.ToString("F1", CultureInfo.InvariantCulture)))} |");
        }

        var bold = measure.Digits(d => $"a bold handwritten {d}", null, Guidance);
        var thin = measure.Digits(d => $"a thin handwritten {d}", null, Guidance);
        var left = measure.Digits(d => $"a handwritten {d} leaning left", null, Guidance);
        var right = measure.Digits(d => $"a handwritten {d} leaning right", null, Guidance);
        var negative = measure.Digits(d => $"a handwritten {d}", "bold", Guidance);
        var plain = atGuidance!;
        log($"| prompts (guidance {Guidance.ToString(CultureInfo.InvariantCulture)}, {plain.Count} each) | mean ink mass | mean slant | slant > 0 | classifier says N |");
        log("| --- | ---: | ---: | ---: | ---: |");
        foreach (var (name, set) in new[] { ("\"a handwritten N\"", plain), ("\"a bold handwritten N\"", bold), ("\"a thin handwritten N\"", thin),
                     ("\"a handwritten N leaning left\"", left), ("\"a handwritten N leaning right\"", right), ("\"a handwritten N\", negative \"bold\"", negative) })
            log($"| {name} | {set.MeanMass:F1} | {set.MeanSlant:F3} | {set.RightLeaning:P0} | {set.Accuracy:P0} |");
        log($"same seed, bold > thin in ink mass: {TinySdSet.Share(bold.Mass, thin.Mass, (a, b) => a > b):P0}; " +
            $"right > left in slant: {TinySdSet.Share(right.Slant, left.Slant, (a, b) => a > b):P0}; " +
            $"negative \"bold\" < no negative in ink mass: {TinySdSet.Share(negative.Mass, plain.Mass, (a, b) => a < b):P0}");

        var grid = ImageEncoder.EncodeGridPng(plain.GridPixels(), plain.GridShape, columns: Seeds);
        ImageEncoder.WriteAtomically(Path.Combine(imagesFolder, "tiny-sd-grid.png"), grid);
        log($"tiny-sd: wrote {Path.Combine(imagesFolder, "tiny-sd-grid.png")} (rows: \"a handwritten 0\" … \"a handwritten 9\", guidance {Guidance.ToString(CultureInfo.InvariantCulture)}, seeds 0–{Seeds - 1}); {clock.Elapsed.TotalSeconds:F0} s");
    }
}
