using Diffusion.Pipeline;
using Diffusion.StableDiffusion;
using Diffusion.Tests.Support;

namespace Diffusion.Tests.StableDiffusion;

/// <summary>The tiny Stable Diffusion export of TestData/sd-tiny-legacy, loaded once for every test that uses it.</summary>
public static class SdFixture
{
    public static string Folder { get; } = TestData.Path("sd-tiny-legacy");

    public static string ModelFolder { get; } = Path.Combine(Folder, "model");

    private static readonly Lazy<StableDiffusionModel> LazyModel = new(() => StableDiffusionModel.Load(ModelFolder, new StableDiffusionOptions { Tokenizer = RecordedTokenizer.FromCases(Folder) }));

    /// <summary>The legacy-layout model (shared; never disposed by a test).</summary>
    public static StableDiffusionModel Model => LazyModel.Value;

    private static readonly Lazy<StableDiffusionModel> LazyOptimum = new(() => StableDiffusionModel.Load(OptimumLayout.Folder, new StableDiffusionOptions { Tokenizer = RecordedTokenizer.FromCases(Folder) }));

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
        Sampler = c.UsesShippedScheduler ? null : Diffusion.Configuration.SamplerNames.FromClassName(c.SchedulerClass),
        InitImage = c.InputPng,
        Strength = c.Strength ?? 0.8,
        OnStep = onStep,
    };

    // TEMPORARY until the CLIP tokenizer lands from main: the ids the reference recorded for each case's prompts.
    private sealed class RecordedTokenizer(Dictionary<string, int[]> ids) : IPromptTokenizer
    {
        public int ModelMaxLength => 77;

        public int[] Encode(string text) => ids.TryGetValue(text, out var found) ? found : throw new KeyNotFoundException($"No recorded ids for '{text}'.");

        public static RecordedTokenizer FromCases(string folder)
        {
            var ids = new Dictionary<string, int[]>(StringComparer.Ordinal);
            foreach (var file in SdReferenceCase.Files(folder))
            {
                var c = SdReferenceCase.Load(file);
                ids[c.Prompt] = c.PromptIds;
                if (c.NegativeIds is { } n) ids[c.NegativePrompt ?? ""] = n;
            }
            return new RecordedTokenizer(ids);
        }
    }
}
