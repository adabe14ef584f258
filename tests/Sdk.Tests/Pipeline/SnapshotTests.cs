using Diffusion.Configuration;
using Diffusion.Imaging;
using Diffusion.Onnx;
using Diffusion.Pipeline;
using Diffusion.Tests.Support;

namespace Diffusion.Tests.Pipeline;

/// <summary>
/// Same seed, same bytes: every sampler at a few settings, on the embedded digits model and on the closed-form ONNX
/// networks, against approved snapshots (see <see cref="Snapshot"/> for how to accept a deliberate change).
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class SnapshotTests
{
    private static readonly string DigitsFolder = Path.Combine(AppContext.BaseDirectory, "models", "digits");
    private static OnnxDiffusionModel? _digits, _mixture;

    [OneTimeSetUp]
    public void Load()
    {
        _digits = OnnxDiffusionModel.Load(DigitsFolder, new OnnxModelOptions { IntraOpThreads = 1 });
        _mixture = OnnxDiffusionModel.Load(TestData.Path("models", "mixture-eps.onnx"),
            new OnnxModelOptions { IntraOpThreads = 1, NumTrainTimesteps = 1000, PredictionType = PredictionType.Epsilon, UnconditionalLabel = 2, NumClasses = 2 });
    }

    [OneTimeTearDown]
    public void Unload()
    {
        _digits?.Dispose();
        _mixture?.Dispose();
    }

    public static IEnumerable<TestCaseData> Settings()
    {
        foreach (var sampler in new[] { "ddpm", "ddim", "dpm-solver", "euler", "euler-ancestral", "pndm" })
        {
            yield return new TestCaseData(sampler, 10, 3.0, false).SetName($"Snapshot digits {sampler} 10 steps w3");
            yield return new TestCaseData(sampler, 6, 1.0, true).SetName($"Snapshot digits {sampler} 6 steps w1 karras");
        }
    }

    [TestCaseSource(nameof(Settings))]
    public async Task DigitsModel(string sampler, int steps, double guidance, bool karras)
    {
        var pipeline = new DiffusionPipeline(_digits!, TestHost.Factory);
        var result = await pipeline.GenerateAsync(new GenerationRequest
        {
            Sampling = new SamplingOptions { Sampler = sampler, Steps = steps, GuidanceScale = guidance, UseKarrasSigmas = karras && sampler != "pndm" },
            BatchSize = 4, ClassLabels = [0, 3, 7, 9], Seed = 2024,
        });
        var png = ImageEncoder.EncodeGridPng(result.Latents, result.Shape, columns: 4);
        Snapshot.Match("digits.json", $"{sampler}-{steps}-w{guidance}{(karras ? "-karras" : "")}", png, result.Latents);
    }

    [TestCase("ddim")]
    [TestCase("euler-ancestral")]
    [TestCase("dpm-solver")]
    public async Task MixtureNetwork(string sampler)
    {
        var result = await new DiffusionPipeline(_mixture!, TestHost.Factory).GenerateAsync(new GenerationRequest
        {
            Sampling = new SamplingOptions { Sampler = sampler, Steps = 12, GuidanceScale = 2 },
            BatchSize = 4, ClassLabels = [0, 1, 0, 1], Seed = 7, Height = 8, Width = 8,
        });
        Snapshot.Match("mixture.json", sampler, ImageEncoder.EncodeGridPng(result.Latents, result.Shape, columns: 4), result.Latents);
    }

    [Test]
    public void TheSameRequestGivesTheSameBytesTwice()
    {
        var pipeline = new DiffusionPipeline(_digits!, TestHost.Factory);
        var request = new GenerationRequest { Sampling = new SamplingOptions { Sampler = "euler-ancestral", Steps = 5, GuidanceScale = 2 }, BatchSize = 2, ClassLabel = 4, Seed = 99 };
        var a = ImageEncoder.EncodeGridPng(pipeline.Generate(request).Latents, new Denoising.TensorShape(2, 1, 28, 28));
        var b = ImageEncoder.EncodeGridPng(pipeline.Generate(request).Latents, new Denoising.TensorShape(2, 1, 28, 28));
        Assert.That(b, Is.EqualTo(a));
    }
}
