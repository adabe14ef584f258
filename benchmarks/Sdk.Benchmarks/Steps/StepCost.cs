using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Collections.Immutable;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Order;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Diffusion.Benchmarks.Infrastructure;

namespace Diffusion.Benchmarks.Steps;

/// <summary>One sampler's step on one shape, next to its floor.</summary>
/// <param name="Sampler">Variant key.</param>
/// <param name="Label">Variant name.</param>
/// <param name="Shape">N×C×H×W.</param>
/// <param name="Elements">Floats per tensor.</param>
/// <param name="StepNs">Median time of one step over the measured iterations.</param>
/// <param name="StepMeanNs">Mean time of one step.</param>
/// <param name="StepErrorNs">Half the 99.9 % confidence interval of the mean.</param>
/// <param name="FloorNs">Median time of the floor copy, measured next to the step.</param>
/// <param name="FloorTensors">Tensors of traffic the floor copies (3, or 4 with noise).</param>
/// <param name="Ratio">Step ÷ floor (medians: one iteration slowed by another process moves a median least).</param>
/// <param name="AllocatedBytesPerStep">Bytes per step by BenchmarkDotNet's memory diagnoser.</param>
/// <param name="FloorAllocatedBytes">The same for the floor copy, which cannot allocate: the diagnoser's own noise.</param>
/// <param name="ExactAllocatedBytes">Bytes this thread allocated over <see cref="SamplerStepBenchmarks.InvocationsPerIteration"/> warm steps (GC's per-thread counter).</param>
public sealed record StepCostRow(string Sampler, string Label, string Shape, int Elements, double StepNs, double StepMeanNs, double StepErrorNs, double FloorNs,
    int FloorTensors, double Ratio, long? AllocatedBytesPerStep, long? FloorAllocatedBytes, long ExactAllocatedBytes);

/// <summary>Drawing one tensor of torch-compatible Gaussian noise.</summary>
/// <param name="Shape">N×C×H×W.</param>
/// <param name="Elements">Values drawn.</param>
/// <param name="DrawNs">Mean time of the draw.</param>
/// <param name="AllocatedBytes">Bytes allocated per draw.</param>
public sealed record NoiseCostRow(string Shape, int Elements, double DrawNs, long? AllocatedBytes);

/// <summary>The cost-per-step suite's numbers.</summary>
public sealed record StepCostResult(string Job, List<StepCostRow> Rows, List<NoiseCostRow> Noise);

/// <summary>Runs <see cref="SamplerStepBenchmarks"/> and <see cref="NoiseBenchmarks"/> and collects the numbers.</summary>
public static class StepCost
{
    private const int Warmups = 3, Iterations = 15;

    /// <summary>Runs both benchmark classes in this process.</summary>
    public static (StepCostResult Result, bool Ok) Run(IConfig baseConfig, string[] args)
    {
        // Each iteration walks InvocationsPerIteration consecutive steps of a fresh, warmed-up schedule.
        var stepJob = Job.Default.WithToolchain(InProcessEmitToolchain.Instance)
            .WithInvocationCount(SamplerStepBenchmarks.InvocationsPerIteration).WithUnrollFactor(1)
            .WithWarmupCount(Warmups).WithIterationCount(Iterations).WithId("step");
        var stepConfig = baseConfig.AddJob(stepJob).WithOrderer(new StepNextToFloorOrderer());
        var steps = BenchmarkRunner.Run<SamplerStepBenchmarks>(stepConfig, args);

        var noiseJob = Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(Warmups).WithIterationCount(Iterations).WithId("noise");
        var noise = BenchmarkRunner.Run<NoiseBenchmarks>(baseConfig.AddJob(noiseJob), args);

        var rows = new List<StepCostRow>();
        foreach (var variant in SamplerVariant.All)
        {
            foreach (var shape in new[] { "1x4x64x64", "8x1x28x28" })
            {
                var step = Find(steps, nameof(SamplerStepBenchmarks.Step), variant.Key, shape);
                var floor = Find(steps, nameof(SamplerStepBenchmarks.Floor), variant.Key, shape);
                if (step?.ResultStatistics is not { } s || floor?.ResultStatistics is not { } f) continue;
                rows.Add(new StepCostRow(variant.Key, variant.Label, shape, Elements(shape), Math.Round(s.Median, 1), Math.Round(s.Mean, 1),
                    Math.Round(s.ConfidenceInterval.Margin, 1), Math.Round(f.Median, 1), SamplerStepBenchmarks.FloorTensors(variant.Key),
                    Math.Round(s.Median / f.Median, 3), step.GcStats.GetBytesAllocatedPerOperation(step.BenchmarkCase),
                    floor.GcStats.GetBytesAllocatedPerOperation(floor.BenchmarkCase), ExactAllocation(variant.Key, shape)));
            }
        }
        var noiseRows = noise.Reports.Where(r => r.ResultStatistics is not null).Select(r =>
        {
            var shape = (string)r.BenchmarkCase.Parameters["Shape"];
            return new NoiseCostRow(shape, Elements(shape), Math.Round(r.ResultStatistics!.Mean, 1), r.GcStats.GetBytesAllocatedPerOperation(r.BenchmarkCase));
        }).ToList();

        var ok = !steps.HasCriticalValidationErrors && !noise.HasCriticalValidationErrors && steps.Reports.All(r => r.Success) && noise.Reports.All(r => r.Success);
        var job = $"BenchmarkDotNet in-process, {Warmups} warm-up + {Iterations} measured iterations of {SamplerStepBenchmarks.InvocationsPerIteration} consecutive steps " +
                  $"(schedule of {SamplerStepBenchmarks.ScheduleSteps} steps, {SamplerStepBenchmarks.WarmSteps} warm-up steps before each iteration), memory diagnoser";
        return (new StepCostResult(job, rows, noiseRows), ok);
    }

    /// <summary>Bytes allocated on this thread by <see cref="SamplerStepBenchmarks.InvocationsPerIteration"/> steps of a warm schedule.</summary>
    private static long ExactAllocation(string sampler, string shape)
    {
        var benchmark = new SamplerStepBenchmarks { Sampler = sampler, Shape = shape };
        benchmark.Setup();
        try
        {
            benchmark.StartSchedule();
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < SamplerStepBenchmarks.InvocationsPerIteration; i++) benchmark.Step();
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        finally
        {
            benchmark.Cleanup();
        }
    }

    private static BenchmarkReport? Find(Summary summary, string method, string sampler, string shape) => summary.Reports.SingleOrDefault(r =>
        r.BenchmarkCase.Descriptor.WorkloadMethod.Name == method
        && (string)r.BenchmarkCase.Parameters["Sampler"] == sampler
        && (string)r.BenchmarkCase.Parameters["Shape"] == shape);

    private static int Elements(string shape) => shape.Split('x').Select(int.Parse).Aggregate(1, (a, b) => a * b);

    /// <summary>Runs each parameter case's step right after its floor, so that the two see the same machine load.</summary>
    private sealed class StepNextToFloorOrderer : DefaultOrderer
    {
        public override IEnumerable<BenchmarkCase> GetExecutionOrder(ImmutableArray<BenchmarkCase> benchmarkCases, IEnumerable<BenchmarkLogicalGroupRule>? order = null) =>
            base.GetExecutionOrder(benchmarkCases, order)
                .OrderBy(c => c.Parameters.DisplayInfo, StringComparer.Ordinal)
                .ThenBy(c => c.Descriptor.Baseline ? 0 : 1);
    }
}
