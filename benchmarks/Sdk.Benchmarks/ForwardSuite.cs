using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using Diffusion.Benchmarks.Infrastructure;

namespace Diffusion.Benchmarks;

/// <summary>Runs <see cref="ForwardProcessBenchmarks"/> and prints the jump-against-chain comparison.</summary>
public static class ForwardSuite
{
    /// <summary>Runs the benchmarks; returns the means and whether every benchmark succeeded.</summary>
    public static (List<ForwardRow> Rows, bool Ok) Run(IConfig config, string[] args)
    {
        var summary = BenchmarkRunner.Run<ForwardProcessBenchmarks>(config, args);
        double Mean(string method) => summary.Reports
            .SingleOrDefault(r => r.BenchmarkCase.Descriptor.WorkloadMethod.Name == method)?
            .ResultStatistics?.Mean ?? double.NaN;

        var rows = new List<ForwardRow>
        {
            new("with noise", Mean(nameof(ForwardProcessBenchmarks.JumpWithNoise)), Mean(nameof(ForwardProcessBenchmarks.SequentialWithNoise))),
            new("arithmetic only", Mean(nameof(ForwardProcessBenchmarks.JumpArithmetic)), Mean(nameof(ForwardProcessBenchmarks.SequentialArithmetic))),
        };
        Console.WriteLine();
        Console.WriteLine($"Forward process at t = 1000 (index {ForwardProcessBenchmarks.Timestep}), one 4x64x64 sample, linear schedule:");
        foreach (var row in rows)
            Console.WriteLine($"  {row.Category,-22}: jump {Format(row.JumpNs)}, sequential {Format(row.SequentialNs)}, speed ratio {row.SequentialNs / row.JumpNs:F0}x");
        return (rows, !summary.HasCriticalValidationErrors && summary.Reports.All(r => r.Success));
    }

    /// <summary>Nanoseconds in a readable unit.</summary>
    public static string Format(double ns) => ns switch
    {
        >= 1e6 => $"{ns / 1e6:F2} ms",
        >= 1e3 => $"{ns / 1e3:F2} us",
        _ => $"{ns:F0} ns",
    };
}
