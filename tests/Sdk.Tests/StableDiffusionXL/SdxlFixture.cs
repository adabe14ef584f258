using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.StableDiffusionXL;

/// <summary>The tiny SDXL export of TestData/sdxl-tiny-optimum and its refiner, loaded once for every test that uses them.</summary>
public static class SdxlFixture
{
    public static string Folder { get; } = TestData.Path("sdxl-tiny-optimum");

    public static string BaseFolder { get; } = Path.Combine(Folder, "model");

    public static string RefinerFolder { get; } = Path.Combine(TestData.Path("sdxl-tiny-refiner-optimum"), "model");

    public static IEnumerable<TestCaseData> Cases() =>
        Directory.GetFiles(Path.Combine(Folder, "expected"), "*.json").Order(StringComparer.Ordinal)
            .Select(f => Path.GetFileNameWithoutExtension(f)).Select(n => new TestCaseData(n).SetName(n));

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<StableDiffusionModel>> Models = new();

    /// <summary>A model folder of the fixture, loaded once (shared; never disposed by a test).</summary>
    public static StableDiffusionModel Model(string folder) =>
        Models.GetOrAdd(Path.GetFullPath(folder), f => new Lazy<StableDiffusionModel>(() => StableDiffusionModel.Load(f))).Value;

    /// <summary>The SDXL parts of a model folder.</summary>
    public static StableDiffusionXLInfo Xl(string folder) => Model(folder).Xl!;

    private static readonly Lazy<StableDiffusionPipeline> LazyPipeline = new(() =>
        new StableDiffusionPipeline(Model(BaseFolder), TestHost.Factory) { Refiner = Model(RefinerFolder) });

    /// <summary>The base's pipeline, with the refiner, and every built-in sampler.</summary>
    public static StableDiffusionPipeline Pipeline => LazyPipeline.Value;

    private static readonly Lazy<StableDiffusionPipeline> LazyRefinerPipeline = new(() => new StableDiffusionPipeline(Model(RefinerFolder), TestHost.Factory));

    /// <summary>The refiner's own pipeline (image to image only).</summary>
    public static StableDiffusionPipeline RefinerPipeline => LazyRefinerPipeline.Value;

    public static SdxlReferenceCase Case(string name) => SdxlReferenceCase.Load(Path.Combine(Folder, "expected", name + ".json"));
}
