using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Diffusion.Benchmarks.OnnxSettings;
using Diffusion.Benchmarks.Overhead;
using Diffusion.Benchmarks.Quality;
using Diffusion.Benchmarks.Steps;
using Diffusion.Benchmarks.UserSteps;

namespace Diffusion.Benchmarks.Infrastructure;

/// <summary>One suite's run: when, where, how busy the machine was, how long it took, and its numbers.</summary>
public sealed record SuiteRun<T>(DateTimeOffset Date, MachineDescription Machine, LoadReport Load, double Seconds, string Command, T Results);

/// <summary>The quality suite: the mixture network and the digits model.</summary>
public sealed record QualityResults(MixtureQualityResult Mixture, DigitsQualityResult Digits);

/// <summary>The forward-process suite (BenchmarkDotNet means, in nanoseconds).</summary>
/// <param name="Category">"with noise" or "arithmetic only".</param>
/// <param name="JumpNs">One closed-form jump q(x_t | x_0).</param>
/// <param name="SequentialNs">The chain of single steps up to t.</param>
public sealed record ForwardRow(string Category, double JumpNs, double SequentialNs);

/// <summary>
/// Everything in <c>benchmarks/results/latest.json</c>: each suite's latest run (a suite run alone replaces only its
/// own section), from which <c>docs/benchmarks.md</c> is written.
/// </summary>
public sealed class BenchmarkResults
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Format version of the file.</summary>
    public int SchemaVersion { get; set; } = 1;

    /// <summary>When any suite last wrote the file.</summary>
    public DateTimeOffset? Updated { get; set; }

    /// <summary>The quality-per-NFE suite.</summary>
    public SuiteRun<QualityResults>? Quality { get; set; }

    /// <summary>The cost-per-step suite.</summary>
    public SuiteRun<StepCostResult>? Steps { get; set; }

    /// <summary>The user's loop against the reference's (and the noise draw against torch.randn).</summary>
    public SuiteRun<UserStepsResult>? UserSteps { get; set; }

    /// <summary>The pipeline-overhead suite.</summary>
    public SuiteRun<PipelineOverheadResult>? Pipeline { get; set; }

    /// <summary>The text-to-image suite: the Stable Diffusion pipeline against its bare network calls on the tiny fixture.</summary>
    public SuiteRun<TextToImageOverheadResult>? TextToImage { get; set; }

    /// <summary>The sdxl suite: the SDXL pipeline against its bare network calls on the tiny SDXL fixture, and its memory.</summary>
    public SuiteRun<SdxlOverheadResult>? Sdxl { get; set; }

    /// <summary>The lora suite: loading the tiny SD fixture with adapters against without, and generating on each.</summary>
    public SuiteRun<Lora.LoraLoadResult>? Lora { get; set; }

    /// <summary>The forward-process suite.</summary>
    public SuiteRun<List<ForwardRow>>? Forward { get; set; }

    /// <summary>The 1,000-digit measurement of the embedded model at guidance 3, 20 DDIM steps.</summary>
    public SuiteRun<DigitsPoint>? DigitsCard { get; set; }

    /// <summary>ONNX Runtime's CPU settings on the digits and Stable Diffusion test UNets.</summary>
    public SuiteRun<OnnxSettingsResult>? OnnxSettings { get; set; }

    /// <summary>The step-cost rows of <see cref="Repository.StepsBeforeFixesFile"/>, or null when it is absent.</summary>
    public static List<StepCostRow>? LoadStepsBeforeFixes(string path)
    {
        if (!File.Exists(path)) return null;
        var before = JsonSerializer.Deserialize<StepsBeforeFixes>(File.ReadAllText(path), Json);
        return before?.Steps?.Results?.Rows;
    }

    /// <summary>The user-steps run of <see cref="Repository.UserStepsBeforeFile"/>, or null when it is absent.</summary>
    public static UserStepsBefore? LoadUserStepsBefore(string path) =>
        File.Exists(path) ? JsonSerializer.Deserialize<UserStepsBefore>(File.ReadAllText(path), Json) : null;

    /// <summary>The user-steps run before the speed fixes: what it was run on, and its numbers.</summary>
    public sealed record UserStepsBefore(string? Note, string? Commit, SuiteRun<UserStepsResult>? UserSteps);

    private sealed record StepsBeforeFixes(string? Note, string? SamplersCommit, SuiteRun<StepCostResult>? Steps);

    /// <summary>Reads the file, or starts empty when there is none.</summary>
    public static BenchmarkResults Load(string path) =>
        File.Exists(path) ? JsonSerializer.Deserialize<BenchmarkResults>(File.ReadAllText(path), Json) ?? new() : new();

    /// <summary>Writes the file (atomically: a reader never sees half of it).</summary>
    public void Save(string path)
    {
        Updated = DateTimeOffset.UtcNow;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(this, Json) + "\n");
        File.Move(temporary, path, overwrite: true);
    }
}
