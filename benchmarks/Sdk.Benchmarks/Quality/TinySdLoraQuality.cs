using System.Diagnostics;
using System.Globalization;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Lora;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.StableDiffusion;

namespace Diffusion.Benchmarks.Quality;

/// <summary>
/// The `tiny-sd-lora` suite: what the LoRA example that ships beside the text-to-image model
/// (<c>models/tiny-sd-lora/bold.safetensors</c>, trained by <c>tools/tiny-sd/train_lora.py</c>) does to prompts that do
/// not ask for bold strokes. "a handwritten N" at the adapter's weights 0, 0.5 and 1, measured as the <c>tiny-sd</c>
/// suite measures (guidance 5, 20 steps of the model's own sampler, seeds 0–9, ink mass and the classifier).
/// </summary>
public static class TinySdLoraQuality
{
    private static readonly double[] Weights = [0, 0.5, 1];

    /// <summary>Runs the measurement and prints its table (docs/models.md records it).</summary>
    public static void Run(ISamplerFactory factory, Action<string> log)
    {
        var clock = Stopwatch.StartNew();
        using var model = StableDiffusionModel.Load(Repository.TinySdModel, new StableDiffusionOptions { Onnx = new OnnxModelOptions { IntraOpThreads = 1 } });
        using var classifier = new DigitClassifier(Repository.Classifier);
        log($"tiny-sd-lora: {Repository.TinySdLora} on {model.Folder}, \"a handwritten N\", guidance {TinySdQuality.Guidance.ToString(CultureInfo.InvariantCulture)}, {TinySdQuality.Steps} steps, seeds 0–{TinySdQuality.Seeds - 1}");
        log("| LoRA weight | mean ink mass | bolder than weight 0 (same digit and seed) | classifier says N |");
        log("| ---: | ---: | ---: | ---: |");
        TinySdSet? without = null;
        foreach (var weight in Weights)
        {
            using var withLora = model.WithLoras([new LoraAdapter(Repository.TinySdLora, weight)]);
            var set = new TinySdMeasurement(new StableDiffusionPipeline(withLora, factory), classifier).Digits(d => $"a handwritten {d}", null, TinySdQuality.Guidance);
            without ??= set;
            log($"| {weight.ToString(CultureInfo.InvariantCulture)} | {set.MeanMass:F1} | {TinySdSet.Share(set.Mass, without.Mass, (a, b) => a > b):P0} | {set.Accuracy:P0} ({set.Correct}/{set.Count}) |");
        }
        log($"tiny-sd-lora: {clock.Elapsed.TotalSeconds:F0} s");
    }
}
