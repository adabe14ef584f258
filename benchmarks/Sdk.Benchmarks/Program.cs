// Benchmarks of the SDK, one suite per argument, or all of them:
//
//   dotnet run -c Release --project benchmarks/Sdk.Benchmarks -- all
//   dotnet run -c Release --project benchmarks/Sdk.Benchmarks -- quality | steps | user-steps | step-layout | pipeline | text-to-image | sdxl | lora | forward | digits-card | onnx-settings | ensembles | adaptive | cfgpp | tiny-sd | tiny-sd-lora | report
//
// `ensembles` only prints its table (docs/ensembles.md records it); it is not part of `all`. Nor is `tiny-sd`, which
// prints the text-to-image model's prompt-following tables (docs/models.md records them) and writes its digit grid,
// nor `tiny-sd-lora`, which prints what its LoRA example does at weights 0, 0.5 and 1, nor `cfgpp`, which prints CFG++
// against plain guidance at equal NFE on the digits model (docs/wrappers.md records it).
//
// Every suite writes its numbers into benchmarks/results/latest.json (replacing only its own section) and then
// rewrites docs/benchmarks.md and its figures from that file; `report` only rewrites the report. Options:
//   --digits-samples N   digits per (sampler, NFE) point of the quality suite (default 100, a multiple of 10)
//   --digits-nfe A,B,…   the digits model's NFE grid (default 5,10,20)
//   --rounds N           back-to-back pairs per batch size in the pipeline suite (default 10)
//   --card-samples N     digits of the digits-card measurement (default 1000)
//   --onnx-rounds N      rounds per model of the onnx-settings suite (default 11)
// Other arguments go to BenchmarkDotNet (steps and forward suites).
//
// The BenchmarkDotNet suites run in-process (InProcessEmitToolchain) rather than in a separately generated and built
// project: on a small shared machine that saves a full restore and build per run, and the figures reported here are
// ratios of two methods measured side by side in one process, which process isolation would not change.
using System.Diagnostics;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Diffusion.Benchmarks;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Benchmarks.Lora;
using Diffusion.Benchmarks.OnnxSettings;
using Diffusion.Benchmarks.Overhead;
using Diffusion.Benchmarks.Quality;
using Diffusion.Benchmarks.Report;
using Diffusion.Benchmarks.Steps;
using Diffusion.Benchmarks.UserSteps;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Microsoft.Extensions.DependencyInjection;

var suiteNames = new[] { "all", "quality", "steps", "user-steps", "step-layout", "pipeline", "text-to-image", "sdxl", "lora", "forward", "digits-card", "onnx-settings", "ensembles", "adaptive", "cfgpp", "tiny-sd", "tiny-sd-lora", "report" };
if (args.Length == 0 || !suiteNames.Contains(args[0], StringComparer.OrdinalIgnoreCase))
{
    Console.Error.WriteLine($"usage: Sdk.Benchmarks <suite> [options] [BenchmarkDotNet options]; suites: {string.Join(", ", suiteNames)}");
    return 2;
}

var suite = args[0].ToLowerInvariant();
var options = Options.Parse(args[1..]);
var command = "dotnet run -c Release --project benchmarks/Sdk.Benchmarks -- " + string.Join(' ', args);

// Reports go to out/benchmarks (git-ignored) rather than BenchmarkDotNet.Artifacts in the working folder.
var artifacts = Repository.Path("out", "benchmarks");
var machine = MachineDescription.Current();
var results = BenchmarkResults.Load(Repository.ResultsFile);
using var host = SamplerVariant.BuildHost();
var factory = host.GetRequiredService<ISamplerFactory>();
var total = Stopwatch.StartNew();
var timings = new List<(string Suite, double Seconds)>();
var ok = true;

void Log(string line) => Console.WriteLine($"[{total.Elapsed:mm\\:ss}] {line}");

SuiteRun<T> Measure<T>(string name, Func<T> run)
{
    Log($"=== {name} ===");
    using var monitor = new LoadMonitor(periodic: name is not ("steps" or "user-steps" or "step-layout" or "forward"));
    var start = DateTimeOffset.UtcNow;
    var clock = Stopwatch.StartNew();
    var value = run();
    var load = monitor.Report();
    timings.Add((name, clock.Elapsed.TotalSeconds));
    Log($"=== {name}: {clock.Elapsed.TotalSeconds:F0} s; load average {load.LoadAverageMean:F1} (max {load.LoadAverageMax:F1}); other processes kept {load.OtherCores:F2} of {Environment.ProcessorCount} cores busy ===");
    return new SuiteRun<T>(start, machine, load, Math.Round(clock.Elapsed.TotalSeconds, 1), command, value);
}

void Save()
{
    results.Save(Repository.ResultsFile);
    BenchmarksReport.Write(results, Repository.ReportFile, Repository.ImagesFolder);
}

var run = suite == "all" ? new[] { "forward", "steps", "user-steps", "pipeline", "text-to-image", "sdxl", "lora", "quality", "digits-card" } : [suite];
foreach (var name in run)
{
    switch (name)
    {
        case "forward":
            results.Forward = Measure(name, () =>
            {
                var config = DefaultConfig.Instance.WithArtifactsPath(artifacts)
                    .AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(15).AsDefault());
                var (rows, success) = ForwardSuite.Run(config, options.BenchmarkArgs);
                ok &= success;
                return rows;
            });
            break;
        case "steps":
            results.Steps = Measure(name, () =>
            {
                var (result, success) = StepCost.Run(DefaultConfig.Instance.WithArtifactsPath(artifacts), options.BenchmarkArgs);
                ok &= success;
                return result;
            });
            break;
        case "user-steps":
            results.UserSteps = Measure(name, () => UserStepsSuite.Run(host, Log));
            break;
        case "step-layout":
            // Logged only: where the caller's buffers sit against a step's speed (docs/benchmarks.md quotes the runs).
            Measure(name, () => BufferLayoutSuite.Run(factory, Log));
            continue; // nothing stored: the report is not rewritten
        case "pipeline":
            results.Pipeline = Measure(name, () => PipelineOverhead.Run(factory, [1, 8], options.Rounds, Log));
            break;
        case "text-to-image":
            results.TextToImage = Measure(name, () => TextToImageOverhead.Run(factory, 3 * options.Rounds, Log));
            break;
        case "sdxl":
            results.Sdxl = Measure(name, () => SdxlOverhead.Run(factory, 3 * options.Rounds, Log));
            break;
        case "lora":
            results.Lora = Measure(name, () => LoraLoadSuite.Run(factory, options.Rounds, Log));
            break;
        case "quality":
            results.Quality = Measure(name, () => new QualityResults(
                MixtureQuality.Run(factory, Log),
                DigitsQuality.Run(factory, options.DigitsNfe, options.DigitsSamples, guidance: 3, Log)));
            break;
        case "digits-card":
            results.DigitsCard = Measure(name, () => DigitsCard.Run(factory, options.CardSamples, Repository.ImagesFolder, Log));
            break;
        case "ensembles":
            MixtureEnsembles.Run(factory, Log);
            return 0;
        case "adaptive":
            MixtureAdaptive.Run(Log);
            return 0;
        case "cfgpp":
            DigitsCfgPlusPlus.Run(factory, Log);
            return 0;
        case "tiny-sd":
            TinySdQuality.Run(factory, Repository.ImagesFolder, Log);
            return 0;
        case "tiny-sd-lora":
            TinySdLoraQuality.Run(factory, Log);
            return 0;
        case "onnx-settings":
            var earlier = results.OnnxSettings is { } previous
                ? [.. previous.Results.Earlier, new(previous.Date, previous.Load.OtherCores, previous.Results.AfterToBefore())]
                : new List<OnnxSettingsEarlierRun>();
            results.OnnxSettings = Measure(name, () => OnnxSettingsSuite.Run(options.OnnxRounds, Log) with { Earlier = [.. earlier.TakeLast(5)] });
            break;
        case "report":
            break;
    }
    Save();
}

Console.WriteLine();
foreach (var (name, seconds) in timings) Console.WriteLine($"{name,-12} {seconds,7:F0} s");
Console.WriteLine($"{"total",-12} {total.Elapsed.TotalSeconds,7:F0} s  (results: {Path.GetRelativePath(Repository.Root, Repository.ResultsFile)}, report: {Path.GetRelativePath(Repository.Root, Repository.ReportFile)})");
return ok ? 0 : 1;

/// <summary>The program's own options; everything else goes to BenchmarkDotNet.</summary>
internal sealed record Options(int DigitsSamples, int[] DigitsNfe, int Rounds, int CardSamples, int OnnxRounds, string[] BenchmarkArgs)
{
    public static Options Parse(string[] args)
    {
        int digitsSamples = 100, rounds = 10, cardSamples = 1000, onnxRounds = 11;
        int[] digitsNfe = [5, 10, 20];
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--digits-samples": digitsSamples = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--digits-nfe": digitsNfe = Next().Split(',').Select(s => int.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray(); break;
                case "--rounds": rounds = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--card-samples": cardSamples = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--onnx-rounds": onnxRounds = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                default: rest.Add(args[i]); break;
            }
        }
        return new Options(digitsSamples, digitsNfe, rounds, cardSamples, onnxRounds, [.. rest]);
    }
}
