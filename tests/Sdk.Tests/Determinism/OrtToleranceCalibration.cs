using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Globalization;
using System.Text;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Snapshots;
using Diffusion.Sdk.Tests.Examples;
using Diffusion.Sdk.Tests.Pipeline;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Determinism;

/// <summary>
/// How the snapshot tolerances were calibrated (run on demand; docs/snapshots.md records the numbers): the same
/// generations through ONNX Runtime with other kernel choices that this one machine can make — intra-op thread counts
/// 1, 2, 4 and graph optimisation off, basic or all (fused kernels round differently) — compared with the snapshot
/// configuration (1 thread, all optimisations), and the README's 100-image grid the same way. The differences are the
/// kind a machine with other instruction sets produces: reordered float32 sums and fused versus unfused operations.
/// </summary>
[TestFixture]
[Explicit("Calibration: prints the measured differences; takes a few minutes.")]
[Category("Calibration")]
[NonParallelizable]
public sealed class OrtToleranceCalibration
{
    private static readonly (int Threads, OnnxGraphOptimizationLevel Level)[] Variants =
    [
        (1, OnnxGraphOptimizationLevel.All), (2, OnnxGraphOptimizationLevel.All), (4, OnnxGraphOptimizationLevel.All),
        (1, OnnxGraphOptimizationLevel.None), (1, OnnxGraphOptimizationLevel.Basic), (4, OnnxGraphOptimizationLevel.None),
    ];

    [Test]
    public async Task MeasureKernelChoiceDifferences()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "models", "digits");
        var report = new StringBuilder("variant | setting | max |Δ latent| | max |Δ stat| | max Δ channel | differing channel values\n");
        var baseline = new Dictionary<string, (float[] Latents, byte[] Png)>();
        foreach (var (threads, level) in Variants)
        {
            using var model = OnnxDiffusionModel.Load(folder, new OnnxModelOptions { IntraOpThreads = threads, GraphOptimizationLevel = level });
            var pipeline = new DiffusionPipeline(model, TestHost.Factory);
            var runs = DigitsSnapshotSettings.All.Select(s => (s.Name, Request: s.Request(), Columns: 4))
                .Append(("readme-grid", ReadmeGridTests.ReadmeRequest(), 10));
            foreach (var (name, request, columns) in runs)
            {
                var result = await pipeline.GenerateAsync(request);
                var png = ImageEncoder.EncodeGridPng(result.Latents, result.Shape, columns);
                if (!baseline.TryGetValue(name, out var b)) { baseline[name] = (result.Latents, png); continue; }
                var maxValue = result.Latents.Zip(b.Latents, (x, y) => Math.Abs(x - (double)y)).Max();
                var (sa, sb) = (TensorSummary.Of(result.Latents), TensorSummary.Of(b.Latents));
                var maxStat = new[] { sa.Min - sb.Min, sa.Max - sb.Max, sa.Mean - sb.Mean, sa.Std - sb.Std }.Max(Math.Abs);
                var image = ImageDifference.Between(DecodedImage.Decode(png), DecodedImage.Decode(b.Png));
                report.AppendLine(CultureInfo.InvariantCulture, $"{threads}t {level} | {name} | {maxValue:G3} | {maxStat:G3} | {image.MaxDifference} | {image.DifferingValues}/{image.TotalValues} ({image.DifferingFraction:P3})");
            }
        }
        TestContext.Out.Write(report.ToString());
        File.WriteAllText(Path.Combine(Path.GetTempPath(), "ort-tolerance-calibration.txt"), report.ToString());
    }
}
