using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.StableDiffusion;

namespace Diffusion.Benchmarks.Quality;

/// <summary>Generates one picture per (digit, seed) for a prompt template and measures each.</summary>
public sealed class TinySdMeasurement(StableDiffusionPipeline pipeline, DigitClassifier classifier)
{
    /// <summary>
    /// Seeds 0…<see cref="TinySdQuality.Seeds"/>−1, each one request with the ten prompts <paramref name="prompt"/>(0…9) as its
    /// batch; the pictures are ordered by digit, then seed.
    /// </summary>
    public TinySdSet Digits(Func<int, string> prompt, string? negativePrompt, double guidance)
    {
        var count = 10 * TinySdQuality.Seeds;
        var digits = new float[count * DigitMeasures.Side * DigitMeasures.Side];
        var labels = new int[count];
        float[]? images = null;
        var shape = default(TensorShape);
        // One request per seed with the ten prompts as a batch (each picture still gets its own noise from the seed's generator).
        for (var s = 0; s < TinySdQuality.Seeds; s++)
        {
            var result = pipeline.Generate(new StableDiffusionRequest
            {
                Prompts = [.. Enumerable.Range(0, 10).Select(prompt)], NegativePrompt = negativePrompt, Steps = TinySdQuality.Steps,
                GuidanceScale = guidance, Seed = (ulong)s,
            });
            if (images is null)
            {
                shape = result.ImageShape with { Batch = count };
                images = new float[shape.Length];
            }
            for (var d = 0; d < 10; d++)
            {
                var i = d * TinySdQuality.Seeds + s;
                result.Images.AsSpan(d * shape.ItemLength, shape.ItemLength).CopyTo(images.AsSpan(i * shape.ItemLength));
                DigitMeasures.ToDigit(result.Images, result.ImageShape, d).CopyTo(digits, i * DigitMeasures.Side * DigitMeasures.Side);
                labels[i] = d;
            }
        }
        var (classes, _) = classifier.Classify(digits);
        return new TinySdSet(labels, classes, digits, images!, shape);
    }
}
