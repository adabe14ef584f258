using System.Diagnostics;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;

namespace Diffusion.Benchmarks.Quality;

/// <summary>
/// Sample quality per network evaluation on the embedded digits model with classifier-free guidance: digits are
/// generated in equal numbers per class, the embedded classifier says whether each is the digit it was asked for, and
/// the Fréchet distance of its features to the 10,000 real digits measures how real the set looks.
/// </summary>
public static class DigitsQuality
{
    /// <summary>Items per generation call (a guided call runs the network on twice as many).</summary>
    public const int Batch = 100;

    /// <summary>Generates <paramref name="samples"/> digits (labels 0…9 in turn) with one variant and measures them.</summary>
    public static (DigitsPoint Point, float[] Images) Measure(DiffusionPipeline pipeline, DigitClassifier classifier, SamplerVariant variant,
        int steps, int nfe, double guidance, int samples, ulong seed)
    {
        if (samples % 10 != 0) throw new ArgumentException("Use a multiple of 10 samples, so that every class has as many.", nameof(samples));
        var modelConfig = pipeline.Model.SchedulerConfig ?? throw new InvalidOperationException("The digits model ships a scheduler configuration.");
        var images = new float[samples * DigitClassifier.ImageLength];
        var labels = new int[samples];
        var clock = Stopwatch.StartNew();
        var evaluations = 0;
        for (var start = 0; start < samples; start += Batch)
        {
            var count = Math.Min(Batch, samples - start);
            var batchLabels = Enumerable.Range(start, count).Select(i => (long)(i % 10)).ToArray();
            var result = pipeline.Generate(new GenerationRequest
            {
                Sampling = variant.Options(steps, guidance),
                BatchSize = count, ClassLabels = batchLabels, Seed = seed + (ulong)(start / Batch),
            });
            evaluations = result.ModelEvaluations;
            if (evaluations != variant.EvaluationsFor(steps))
                throw new InvalidOperationException($"{variant.Label} with {steps} steps made {evaluations} network calls, not {variant.EvaluationsFor(steps)}.");
            result.Latents.CopyTo(images, start * DigitClassifier.ImageLength);
            for (var i = 0; i < count; i++) labels[start + i] = (int)batchLabels[i];
        }
        clock.Stop();

        var (classes, features) = classifier.Classify(images);
        var perClass = new double[10];
        var correct = 0;
        for (var i = 0; i < samples; i++)
        {
            if (classes[i] != labels[i]) continue;
            correct++;
            perClass[labels[i]]++;
        }
        for (var c = 0; c < 10; c++) perClass[c] /= samples / 10;
        var frechet = classifier.FrechetToReal(features);
        var point = new DigitsPoint(variant.Key, variant.Label, nfe, steps, evaluations, samples, (double)correct / samples, perClass, frechet,
            Math.Round(clock.Elapsed.TotalSeconds, 2));
        return (point, images);
    }

    /// <summary>Every variant at every NFE of <paramref name="nfeGrid"/> it supports.</summary>
    public static DigitsQualityResult Run(ISamplerFactory factory, int[] nfeGrid, int samplesPerPoint, double guidance, Action<string> log)
    {
        var clock = Stopwatch.StartNew();
        using var model = OnnxDiffusionModel.Load(Repository.DigitsModel);
        using var classifier = new DigitClassifier(Repository.Classifier);
        var pipeline = new DiffusionPipeline(model, factory);
        const ulong seed = 3000;
        var points = new List<DigitsPoint>();
        foreach (var variant in SamplerVariant.All)
        {
            foreach (var nfe in nfeGrid)
            {
                if (variant.StepsForNfe(nfe) is not { } steps) continue;
                var (point, _) = Measure(pipeline, classifier, variant, steps, nfe, guidance, samplesPerPoint, seed);
                points.Add(point);
                log($"digits:  {variant.Label,-18} NFE {nfe,4} ({steps,3} steps): accuracy {point.Accuracy:P1}, Fréchet {point.Frechet:F3}  [{point.Seconds:F1} s]");
            }
        }
        return new DigitsQualityResult
        {
            Guidance = guidance, SamplesPerPoint = samplesPerPoint, NfeGrid = nfeGrid, Seed = seed, Points = points,
            Seconds = Math.Round(clock.Elapsed.TotalSeconds, 1),
        };
    }
}
