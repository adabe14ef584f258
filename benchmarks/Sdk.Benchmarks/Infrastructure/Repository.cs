using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
namespace Diffusion.Benchmarks.Infrastructure;

/// <summary>Paths inside the repository, found from the working folder or the program's folder (whichever is inside it).</summary>
public static class Repository
{
    private static readonly Lazy<string> RootPath = new(FindRoot);

    /// <summary>The repository root (the folder holding <c>Sdk.sln</c>).</summary>
    public static string Root => RootPath.Value;

    /// <summary>A path relative to the root.</summary>
    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>The embedded digits UNet (a pipeline folder).</summary>
    public static string DigitsModel => Path("models", "digits");

    /// <summary>The embedded text-to-image model (a Stable Diffusion folder, Optimum layout).</summary>
    public static string TinySdModel => Path("models", "tiny-sd");

    /// <summary>The LoRA example trained for it ("bold", kohya format).</summary>
    public static string TinySdLora => Path("models", "tiny-sd-lora", "bold.safetensors");

    /// <summary>The digit classifier's folder.</summary>
    public static string Classifier => Path("models", "classifier");

    /// <summary>The closed-form two-component mixture ε-network of the tests.</summary>
    public static string MixtureModel => Path("tests", "Sdk.Tests", "TestData", "models", "mixture-eps.onnx");

    /// <summary>Where the machine-readable results go.</summary>
    public static string ResultsFile => Path("benchmarks", "results", "latest.json");

    /// <summary>What tools/gpu-check wrote on a GPU machine, copied here (absent until one has run).</summary>
    public static string GpuCheckFile => Path("benchmarks", "results", "gpu-check.json");

    /// <summary>The step-cost suite run on the samplers before this benchmark's fixes (kept for the report's before/after table).</summary>
    public static string StepsBeforeFixesFile => Path("benchmarks", "results", "steps-before-fixes.json");

    /// <summary>The user-steps suite run on the SDK before its speed fixes (kept for the report's before/after table).</summary>
    public static string UserStepsBeforeFile => Path("benchmarks", "results", "user-steps-before.json");

    /// <summary>The generated report.</summary>
    public static string ReportFile => Path("docs", "benchmarks.md");

    /// <summary>The report's figures.</summary>
    public static string ImagesFolder => Path("docs", "images");

    private static string FindRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(System.IO.Path.Combine(dir.FullName, "Sdk.sln"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException("Run the benchmarks from inside the repository: no folder above the working folder or the program holds Sdk.sln.");
    }
}
