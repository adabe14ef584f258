using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Benchmarks.Quality;

/// <summary>
/// The embedded digit classifier (<c>models/classifier</c>): class predictions and the 128 penultimate-layer features
/// of 28×28 images in [−1, 1], and the features' mean and covariance over the 10,000 real digits
/// (<c>feature_stats.json</c>), which stand for the real data in the Fréchet distance.
/// </summary>
public sealed class DigitClassifier : IDisposable
{
    /// <summary>Values per image.</summary>
    public const int ImageLength = 28 * 28;

    /// <summary>Features per image.</summary>
    public const int FeatureDimension = 128;

    private const int Chunk = 250;
    private readonly InferenceSession _session;

    /// <summary>Loads the classifier and the real digits' feature statistics from <paramref name="folder"/>.</summary>
    public DigitClassifier(string folder)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        _session = new InferenceSession(Path.Combine(folder, "model.onnx"), options);
        using var stats = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "feature_stats.json")));
        var all = stats.RootElement.GetProperty("all");
        RealCount = all.GetProperty("count").GetInt32();
        RealMean = all.GetProperty("mean").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var rows = all.GetProperty("cov").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray();
        RealCovariance = new double[rows.Length, rows.Length];
        for (var i = 0; i < rows.Length; i++)
            for (var j = 0; j < rows.Length; j++) RealCovariance[i, j] = rows[i][j];
        if (RealMean.Length != FeatureDimension) throw new InvalidDataException($"feature_stats.json has {RealMean.Length} features; expected {FeatureDimension}.");
    }

    /// <summary>How many real digits the statistics were computed from.</summary>
    public int RealCount { get; }

    /// <summary>Mean feature of the real digits.</summary>
    public double[] RealMean { get; }

    /// <summary>Feature covariance of the real digits (n − 1 normalisation).</summary>
    public double[,] RealCovariance { get; }

    /// <summary>Predicted classes and features of <paramref name="images"/> (clamped to [−1, 1] first, as the Python evaluator does).</summary>
    public (int[] Classes, float[] Features) Classify(ReadOnlySpan<float> images)
    {
        var count = images.Length / ImageLength;
        var classes = new int[count];
        var features = new float[count * FeatureDimension];
        for (var start = 0; start < count; start += Chunk)
        {
            var n = Math.Min(Chunk, count - start);
            var input = new DenseTensor<float>([n, 1, 28, 28]);
            var span = input.Buffer.Span;
            images.Slice(start * ImageLength, n * ImageLength).CopyTo(span);
            for (var i = 0; i < span.Length; i++) span[i] = Math.Clamp(span[i], -1f, 1f);
            using var outputs = _session.Run([NamedOnnxValue.CreateFromTensor("image", input)], ["logits", "features"]);
            var logits = outputs.Single(o => o.Name == "logits").AsTensor<float>();
            var feats = outputs.Single(o => o.Name == "features").AsTensor<float>();
            for (var b = 0; b < n; b++)
            {
                var best = 0;
                for (var c = 1; c < 10; c++)
                    if (logits[b, c] > logits[b, best]) best = c;
                classes[start + b] = best;
                for (var f = 0; f < FeatureDimension; f++) features[(start + b) * FeatureDimension + f] = feats[b, f];
            }
        }
        return (classes, features);
    }

    /// <inheritdoc/>
    public void Dispose() => _session.Dispose();
}
