using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk;

namespace Diffusion.Benchmarks.Quality;

/// <summary>
/// The embedded model's headline measurement through the SDK, with the protocol of the Python evaluator in
/// <c>docs/models.md</c>: DDIM (η = 0, the model's scheduler configuration), 20 steps, guidance 3, equal numbers of
/// digits per class (1,000 by default: 100 per class); accuracy of the embedded classifier and Fréchet distance to the
/// 10,000 real digits. Also draws the first 10 digits of each class as a grid (one row per class).
/// </summary>
public static class DigitsCard
{
    /// <summary>Steps of the measurement.</summary>
    public const int Steps = 20;

    /// <summary>Guidance of the measurement.</summary>
    public const double Guidance = 3;

    /// <summary>The grid image written next to the report's figures.</summary>
    public const string GridImage = "digits-grid-sdk.png";

    /// <summary>Generates, measures and draws.</summary>
    public static DigitsPoint Run(ISamplerFactory factory, int samples, string imagesFolder, Action<string> log)
    {
        using var model = OnnxDiffusionModel.Load(Repository.DigitsModel);
        using var classifier = new DigitClassifier(Repository.Classifier);
        var pipeline = new DiffusionPipeline(model, factory);
        var ddim = SamplerVariant.All.Single(v => v.Key == "ddim");
        var (point, images) = DigitsQuality.Measure(pipeline, classifier, ddim, Steps, Steps, Guidance, samples, seed: 2024);
        log($"digits-card: DDIM {Steps} steps, guidance {Guidance}, {samples} digits: accuracy {point.Accuracy:P1}, Fréchet {point.Frechet:F3}  [{point.Seconds:F0} s]");

        // Item i was generated for class i % 10: row c holds the first ten items of class c.
        const int perRow = 10, item = DigitClassifier.ImageLength;
        var grid = new float[10 * perRow * item];
        for (var c = 0; c < 10; c++)
            for (var k = 0; k < perRow && c + 10 * k < samples; k++)
                images.AsSpan((c + 10 * k) * item, item).CopyTo(grid.AsSpan((c * perRow + k) * item, item));
        Directory.CreateDirectory(imagesFolder);
        ImageEncoder.WriteAtomically(Path.Combine(imagesFolder, GridImage), ImageEncoder.EncodeGridPng(grid, new TensorShape(10 * perRow, 1, 28, 28), columns: perRow));
        return point;
    }
}
