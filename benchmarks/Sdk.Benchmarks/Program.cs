// Benchmarks of the SDK, one suite per argument:
//
//   dotnet run -c Release --project benchmarks/Sdk.Benchmarks -- forward
//
// Extra arguments after the suite name go to BenchmarkDotNet (e.g. --job short).
//
// The suites run in-process (InProcessEmitToolchain) rather than in a separately generated and built project: on a
// small shared machine that saves a full restore and build per run, and the figures reported here are ratios of two
// methods measured side by side in one process, which process isolation would not change.
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Diffusion.Benchmarks;

var suites = new Dictionary<string, Func<IConfig, string[], int>>(StringComparer.OrdinalIgnoreCase)
{
    ["forward"] = RunForward,
};

if (args.Length == 0 || !suites.TryGetValue(args[0], out var suite))
{
    Console.Error.WriteLine($"usage: Sdk.Benchmarks <suite> [BenchmarkDotNet options]; suites: {string.Join(", ", suites.Keys)}");
    return 2;
}

// Reports go to out/benchmarks (git-ignored) rather than BenchmarkDotNet.Artifacts in the working folder.
var config = DefaultConfig.Instance
    .WithArtifactsPath(Path.Combine("out", "benchmarks"))
    .AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(15).AsDefault());
return suite(config, args[1..]);

static int RunForward(IConfig config, string[] args)
{
    var summary = BenchmarkRunner.Run<ForwardProcessBenchmarks>(config, args);
    double Mean(string method) => summary.Reports
        .Single(r => r.BenchmarkCase.Descriptor.WorkloadMethod.Name == method)
        .ResultStatistics?.Mean ?? double.NaN;

    Console.WriteLine();
    Console.WriteLine($"Forward process at t = 1000 (index {ForwardProcessBenchmarks.Timestep}), one 4x64x64 sample, linear schedule:");
    Print("with noise generation", Mean(nameof(ForwardProcessBenchmarks.JumpWithNoise)), Mean(nameof(ForwardProcessBenchmarks.SequentialWithNoise)));
    Print("arithmetic only", Mean(nameof(ForwardProcessBenchmarks.JumpArithmetic)), Mean(nameof(ForwardProcessBenchmarks.SequentialArithmetic)));
    return summary.HasCriticalValidationErrors || summary.Reports.Any(r => !r.Success) ? 1 : 0;

    static void Print(string what, double jumpNs, double sequentialNs) =>
        Console.WriteLine($"  {what,-22}: jump {Format(jumpNs)}, sequential {Format(sequentialNs)}, speed ratio {sequentialNs / jumpNs:F0}x");

    static string Format(double ns) => ns switch
    {
        >= 1e6 => $"{ns / 1e6:F2} ms",
        >= 1e3 => $"{ns / 1e3:F2} us",
        _ => $"{ns:F0} ns",
    };
}
