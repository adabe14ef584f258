using System.Text.Json;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.StableDiffusion;

/// <summary>The LCM export of TestData/lcm-tiny-optimum (a UNet with <c>timestep_cond</c>) and its reference cases.</summary>
public static class LcmFixture
{
    public static string Folder { get; } = TestData.Path("lcm-tiny-optimum");

    public static string ModelFolder { get; } = Path.Combine(Folder, "model");

    public static IEnumerable<TestCaseData> Cases() =>
        SdReferenceCase.Files(Folder).Select(f => new TestCaseData(Path.GetFileNameWithoutExtension(f)).SetName(Path.GetFileNameWithoutExtension(f)));

    public static SdReferenceCase Case(string name) => SdReferenceCase.Load(Path.Combine(Folder, "expected", name + ".json"));

    private static readonly Lazy<StableDiffusionModel> LazyModel = new(() => StableDiffusionModel.Load(ModelFolder));

    /// <summary>The model (shared; never disposed by a test).</summary>
    public static StableDiffusionModel Model => LazyModel.Value;

    private static readonly Lazy<StableDiffusionPipeline> LazyPipeline = new(() => new StableDiffusionPipeline(Model, TestHost.Factory));

    /// <summary>A pipeline over <see cref="Model"/> with every built-in sampler.</summary>
    public static StableDiffusionPipeline Pipeline => LazyPipeline.Value;

    /// <summary>The request that reproduces a case: prompt, steps, guidance, seed, size, original_inference_steps, start image and strength.</summary>
    public static StableDiffusionRequest Request(SdReferenceCase c, Diffusion.Sdk.Pipeline.StepCallback? onStep = null) => new()
    {
        Prompt = c.Prompt,
        Steps = c.Steps,
        GuidanceScale = c.GuidanceScale,
        Seed = c.Seed,
        Width = c.Width,
        Height = c.Height,
        OriginalInferenceSteps = c.Inputs.GetProperty("original_inference_steps") is { ValueKind: JsonValueKind.Number } o ? o.GetInt32() : null,
        InitImage = c.InputPng,
        Strength = c.Strength ?? 1.0,
        OnStep = onStep,
    };
}

/// <summary>The inpainting export of TestData/sd-inpaint-tiny-legacy (a 9-channel UNet) and its reference cases, one of which runs sd-tiny-legacy's 4-channel model.</summary>
public static class InpaintFixture
{
    public static string Folder { get; } = TestData.Path("sd-inpaint-tiny-legacy");

    public static string ModelFolder { get; } = Path.Combine(Folder, "model");

    public static IEnumerable<TestCaseData> Cases() =>
        SdReferenceCase.Files(Folder).Select(f => new TestCaseData(Path.GetFileNameWithoutExtension(f)).SetName(Path.GetFileNameWithoutExtension(f)));

    public static SdReferenceCase Case(string name) => SdReferenceCase.Load(Path.Combine(Folder, "expected", name + ".json"));

    /// <summary>The model folder a case ran on (its <c>model</c> field, relative to the fixture).</summary>
    public static string ModelOf(SdReferenceCase c) => Path.GetFullPath(Path.Combine(Folder, c.Root.GetProperty("model").GetString()!));

    public static byte[] InputPng(SdReferenceCase c) => File.ReadAllBytes(Path.Combine(Folder, "expected", c.Inputs.GetProperty("image_png").GetString()!));

    public static byte[] MaskPng(SdReferenceCase c) => File.ReadAllBytes(Path.Combine(Folder, "expected", c.Inputs.GetProperty("mask_image_png").GetString()!));

    private static readonly Lazy<StableDiffusionModel> LazyModel = new(() => StableDiffusionModel.Load(ModelFolder));

    /// <summary>The 9-channel inpainting model (shared; never disposed by a test).</summary>
    public static StableDiffusionModel Model => LazyModel.Value;

    private static readonly Lazy<StableDiffusionPipeline> LazyPipeline = new(() => new StableDiffusionPipeline(Model, TestHost.Factory));

    /// <summary>A pipeline over <see cref="Model"/>.</summary>
    public static StableDiffusionPipeline Pipeline => LazyPipeline.Value;

    /// <summary>The pipeline of the model a case ran on: the 9-channel export, or sd-tiny-legacy's 4-channel one.</summary>
    public static StableDiffusionPipeline PipelineOf(SdReferenceCase c) =>
        Path.GetFullPath(ModelOf(c)) == Path.GetFullPath(SdFixture.ModelFolder) ? SdFixture.Pipeline : Pipeline;

    private static readonly Lazy<StableDiffusionModel> LazyOptimumModel = new(() => StableDiffusionModel.Load(OptimumLayout.InpaintingFolder));

    /// <summary>The 9-channel model in the Optimum layout (shared; never disposed by a test).</summary>
    public static StableDiffusionModel OptimumModel => LazyOptimumModel.Value;

    private static readonly Lazy<StableDiffusionPipeline> LazyOptimumPipeline = new(() => new StableDiffusionPipeline(OptimumModel, TestHost.Factory));

    /// <summary>The pipeline of the same model as <see cref="PipelineOf"/>, in the Optimum layout.</summary>
    public static StableDiffusionPipeline OptimumPipelineOf(SdReferenceCase c) =>
        Path.GetFullPath(ModelOf(c)) == Path.GetFullPath(SdFixture.ModelFolder) ? SdFixture.OptimumPipeline : LazyOptimumPipeline.Value;

    /// <summary>The request that reproduces a case: prompt and negative, steps, guidance, seed, size, sampler, picture, mask and strength.</summary>
    public static StableDiffusionRequest Request(SdReferenceCase c, Diffusion.Sdk.Pipeline.StepCallback? onStep = null) => new()
    {
        Prompt = c.Prompt,
        NegativePrompt = c.NegativePrompt,
        Steps = c.Steps,
        GuidanceScale = c.GuidanceScale,
        Seed = c.Seed,
        Width = c.Width,
        Height = c.Height,
        Sampler = c.UsesShippedScheduler ? null : TestHost.Factory.ResolveName(new Diffusion.Sdk.Abstractions.SamplingOptions(), new Diffusion.Sdk.Abstractions.SchedulerConfig { ClassName = c.SchedulerClass }),
        InitImage = InputPng(c),
        Mask = MaskPng(c),
        Strength = c.Strength ?? 1.0,
        OnStep = onStep,
    };
}
