using System.Runtime.CompilerServices;
using Diffusion.Benchmarks.Quality;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.TinySd;

/// <summary>The embedded text-to-image model (models/tiny-sd) and the digit classifier, loaded once for the tests that use them.</summary>
public static class TinySdModel
{
    /// <summary>models/tiny-sd of this checkout.</summary>
    public static string Folder { get; } = RepositoryPath("models", "tiny-sd");

    /// <summary>The LoRA example that ships beside it: "bold" (kohya format), models/tiny-sd-lora/bold.safetensors.</summary>
    public static string BoldLora { get; } = Path.Combine(RepositoryPath("models", "tiny-sd-lora"), "bold.safetensors");

    // One ONNX Runtime thread, so that a snapshot is exact on the machine that approved it.
    private static readonly Lazy<StableDiffusionModel> LazyModel = new(() =>
        StableDiffusionModel.Load(Folder, new StableDiffusionOptions { Onnx = new OnnxModelOptions { IntraOpThreads = 1 } }));

    private static readonly Lazy<StableDiffusionPipeline> LazyPipeline = new(() => new StableDiffusionPipeline(LazyModel.Value, TestHost.Factory));

    private static readonly Lazy<DigitClassifier> LazyClassifier = new(() => new DigitClassifier(RepositoryPath("models", "classifier")));

    /// <summary>The model (shared; never disposed by a test).</summary>
    public static StableDiffusionModel Model => LazyModel.Value;

    /// <summary>A pipeline over <see cref="Model"/>.</summary>
    public static StableDiffusionPipeline Pipeline => LazyPipeline.Value;

    /// <summary>The project's digit classifier (shared).</summary>
    public static DigitClassifier Classifier => LazyClassifier.Value;

    /// <summary>One picture per prompt (one batch, one seed): 20 steps of the model's own sampler.</summary>
    public static StableDiffusionResult Generate(IEnumerable<string> prompts, ulong seed, double guidance = 5, string? negativePrompt = null) =>
        Pipeline.Generate(new StableDiffusionRequest { Prompts = [.. prompts], NegativePrompt = negativePrompt, Steps = 20, GuidanceScale = guidance, Seed = seed });

    /// <summary><paramref name="template"/>(0…9).</summary>
    public static IEnumerable<string> TenDigits(Func<int, string> template) => Enumerable.Range(0, 10).Select(template);

    private static string RepositoryPath(string a, string b, [CallerFilePath] string source = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(source)!, "..", "..", "..", a, b));
}
