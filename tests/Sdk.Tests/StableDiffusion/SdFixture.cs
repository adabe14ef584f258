using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.StableDiffusion;

/// <summary>The tiny Stable Diffusion export of TestData/sd-tiny-legacy, loaded once for every test that uses it.</summary>
public static class SdFixture
{
    public static string Folder { get; } = TestData.Path("sd-tiny-legacy");

    public static string ModelFolder { get; } = Path.Combine(Folder, "model");

    private static readonly Lazy<StableDiffusionModel> LazyModel = new(() => StableDiffusionModel.Load(ModelFolder));

    /// <summary>The legacy-layout model (shared; never disposed by a test).</summary>
    public static StableDiffusionModel Model => LazyModel.Value;

    private static readonly Lazy<StableDiffusionModel> LazyOptimum = new(() => StableDiffusionModel.Load(OptimumLayout.Folder));

    /// <summary>The same weights in the Optimum layout (shared; never disposed by a test).</summary>
    public static StableDiffusionModel OptimumModel => LazyOptimum.Value;

    private static readonly Lazy<StableDiffusionPipeline> LazyOptimumPipeline = new(() => new StableDiffusionPipeline(OptimumModel, TestHost.Factory));

    /// <summary>A pipeline over <see cref="OptimumModel"/>.</summary>
    public static StableDiffusionPipeline OptimumPipeline => LazyOptimumPipeline.Value;

    private static readonly Lazy<StableDiffusionPipeline> LazyPipeline = new(() => new StableDiffusionPipeline(Model, TestHost.Factory));

    /// <summary>A pipeline over <see cref="Model"/> with every built-in sampler.</summary>
    public static StableDiffusionPipeline Pipeline => LazyPipeline.Value;

    public static IEnumerable<TestCaseData> Cases() =>
        SdReferenceCase.Files(Folder).Select(f => new TestCaseData(Path.GetFileNameWithoutExtension(f)).SetName(Path.GetFileNameWithoutExtension(f)));

    public static SdReferenceCase Case(string name) => SdReferenceCase.Load(Path.Combine(Folder, "expected", name + ".json"));

    /// <summary>The request that reproduces a case: its prompt, steps, guidance, seed, size, sampler and start image.</summary>
    public static StableDiffusionRequest Request(SdReferenceCase c, StepCallback? onStep = null) => new()
    {
        Prompt = c.Prompt,
        NegativePrompt = c.NegativePrompt,
        Steps = c.Steps,
        GuidanceScale = c.GuidanceScale,
        Seed = c.Seed,
        Width = c.Width,
        Height = c.Height,
        Sampler = c.UsesShippedScheduler ? null : TestHost.Factory.ResolveName(new Diffusion.Sdk.Abstractions.SamplingOptions(), new Diffusion.Sdk.Abstractions.SchedulerConfig { ClassName = c.SchedulerClass }),
        InitImage = c.InputPng,
        Strength = c.Strength ?? 0.8,
        OnStep = onStep,
    };
}
