using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Snapshots;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Pipeline;

/// <summary>
/// Every sampler at a few settings, on the embedded digits model and on a closed-form ONNX network, against approved
/// snapshots (Snapshots/digits, Snapshots/mixture) through the snapshot kit: the grid PNG and the latents are identical
/// on the machine that approved them, and within the calibrated CPU-kernel tolerances on any other (ONNX Runtime picks
/// its kernels by instruction set). Accept a deliberate change with <c>DIFFUSION_ACCEPT_SNAPSHOTS=1</c>; see docs/snapshots.md.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class SnapshotTests
{
    private static readonly string DigitsFolder = Path.Combine(AppContext.BaseDirectory, "models", "digits");
    private static readonly SnapshotStore Digits = SnapshotStore.BesideSource("../Snapshots/digits");
    private static readonly SnapshotStore Mixture = SnapshotStore.BesideSource("../Snapshots/mixture");
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

    public static IEnumerable<TestCaseData> Settings() => DigitsSnapshotSettings.All.Select(s => new TestCaseData(s).SetName($"Snapshot digits {s.Title}"));

    [TestCaseSource(nameof(Settings))]
    public async Task DigitsModel(DigitsSnapshotSettings setting)
    {
        var result = await new DiffusionPipeline(_digits!, TestHost.Factory).GenerateAsync(setting.Request());
        var png = ImageEncoder.EncodeGridPng(result.Latents, result.Shape, columns: 4);
        Assert.Multiple(() =>
        {
            Digits.MatchImage(setting.Name, png, ImageTolerance.CpuKernels);
            Digits.MatchTensor(setting.Name, result.Latents, TensorTolerance.CpuKernels);
        });
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
        Assert.Multiple(() =>
        {
            Mixture.MatchImage(sampler, ImageEncoder.EncodeGridPng(result.Latents, result.Shape, columns: 4), ImageTolerance.CpuKernels);
            Mixture.MatchTensor(sampler, result.Latents, TensorTolerance.CpuKernels, keepValues: true);
        });
    }

    [Test]
    public void TheSameRequestGivesTheSameBytesTwice()
    {
        var pipeline = new DiffusionPipeline(_digits!, TestHost.Factory);
        var request = new GenerationRequest { Sampling = new SamplingOptions { Sampler = "euler-ancestral", Steps = 5, GuidanceScale = 2 }, BatchSize = 2, ClassLabel = 4, Seed = 99 };
        var a = ImageEncoder.EncodeGridPng(pipeline.Generate(request).Latents, new Diffusion.Sdk.Abstractions.TensorShape(2, 1, 28, 28));
        var b = ImageEncoder.EncodeGridPng(pipeline.Generate(request).Latents, new Diffusion.Sdk.Abstractions.TensorShape(2, 1, 28, 28));
        Assert.That(b, Is.EqualTo(a));
    }
}

/// <summary>One digits-model snapshot setting (shared by the snapshot tests and the tolerance calibration).</summary>
public sealed record DigitsSnapshotSettings(string Sampler, int Steps, double Guidance, bool Karras)
{
    public static IReadOnlyList<DigitsSnapshotSettings> All { get; } =
    [
        .. new[] { "ddpm", "ddim", "dpm-solver", "euler", "euler-ancestral", "pndm" }
            .SelectMany(s => new[] { new DigitsSnapshotSettings(s, 10, 3.0, false), new DigitsSnapshotSettings(s, 6, 1.0, true) }),
    ];

    public string Name => $"{Sampler}-{Steps}-w{Guidance}{(Karras ? "-karras" : "")}";

    public string Title => $"{Sampler} {Steps} steps w{Guidance}{(Karras ? " karras" : "")}";

    public GenerationRequest Request() => new()
    {
        Sampling = new SamplingOptions { Sampler = Sampler, Steps = Steps, GuidanceScale = Guidance, UseKarrasSigmas = Karras && Sampler != "pndm" },
        BatchSize = 4, ClassLabels = [0, 3, 7, 9], Seed = 2024,
    };

    public override string ToString() => Title;
}
