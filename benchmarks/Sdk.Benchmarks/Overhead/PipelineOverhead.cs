using System.Diagnostics;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Configuration;
using Diffusion.Noise;
using Diffusion.Onnx;
using Diffusion.Pipeline;
using Diffusion.Scheduling;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Benchmarks.Overhead;

/// <summary>Pipeline against bare ONNX Runtime at one batch size: medians over the rounds, and the per-round ratios.</summary>
/// <param name="Batch">Images per call.</param>
/// <param name="BareMs">Median time of <see cref="PipelineOverhead.Steps"/> bare <c>InferenceSession.Run</c> calls.</param>
/// <param name="PipelineMs">Median time of one <c>DiffusionPipeline.Generate</c> with that many steps.</param>
/// <param name="Ratio">Median over rounds of pipeline ÷ bare, each pair measured back to back.</param>
/// <param name="RatioLow">Lower quartile of the per-round ratios.</param>
/// <param name="RatioHigh">Upper quartile of the per-round ratios.</param>
/// <param name="Pairs">How many pairs were measured.</param>
public sealed record OverheadRow(int Batch, double BareMs, double PipelineMs, double Ratio, double RatioLow, double RatioHigh, int Pairs);

/// <summary>Guided against unguided generation at one batch size.</summary>
/// <param name="Batch">Images per request.</param>
/// <param name="UnguidedMs">Median time with guidance 1 (one network pass of the batch per step).</param>
/// <param name="GuidedMs">Median time with guidance 3 (conditional and unconditional passes as one batch of twice the size).</param>
/// <param name="Ratio">Median over rounds of guided ÷ unguided.</param>
/// <param name="RatioLow">Lower quartile of the per-round ratios.</param>
/// <param name="RatioHigh">Upper quartile of the per-round ratios.</param>
/// <param name="Pairs">How many pairs were measured.</param>
public sealed record GuidanceRow(int Batch, double UnguidedMs, double GuidedMs, double Ratio, double RatioLow, double RatioHigh, int Pairs);

/// <summary>The pipeline-overhead suite's numbers.</summary>
public sealed record PipelineOverheadResult
{
    public required string Sampler { get; init; }
    public required int Steps { get; init; }
    public required int Rounds { get; init; }
    public required int IntraOpThreads { get; init; }
    public required List<OverheadRow> Overhead { get; init; }
    public required List<GuidanceRow> Guidance { get; init; }
    public required double Seconds { get; init; }
}

/// <summary>
/// What the SDK adds around the network: <see cref="DiffusionPipeline.Generate"/> with <see cref="Steps"/> DDIM steps
/// (sampler creation, initial noise, input scaling, the ONNX denoiser with its copies in and out, NaN checks, the step)
/// against <see cref="Steps"/> bare <c>InferenceSession.Run</c> calls on the same model, session settings, batch, labels
/// and timesteps, with input and output tensors created once. The two are measured back to back, in alternating order,
/// round after round, so that a change in the machine's load hits both; the ratio reported is the median of the
/// per-round ratios.
/// </summary>
public static class PipelineOverhead
{
    /// <summary>Steps per generation.</summary>
    public const int Steps = 20;

    /// <summary>Runs the comparison for the given batch sizes.</summary>
    public static PipelineOverheadResult Run(ISamplerFactory factory, int[] batches, int rounds, Action<string> log)
    {
        var clock = Stopwatch.StartNew();
        var threads = Environment.ProcessorCount;
        var modelOptions = new OnnxModelOptions { IntraOpThreads = threads };
        using var model = OnnxDiffusionModel.Load(Repository.DigitsModel, modelOptions);
        var pipeline = new DiffusionPipeline(model, factory);
        var modelConfig = model.SchedulerConfig!;
        var ddim = SamplerVariant.All.Single(v => v.Key == "ddim");

        // The bare session: the same file and session settings as the model's (OnnxDiffusionModel's CPU session options).
        using var sessionOptions = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = threads };
        using var session = new InferenceSession(model.ModelPath, sessionOptions);

        var sampler = factory.Create(ddim.Options(modelConfig, Steps, 1));
        sampler.SetTimesteps(Steps);
        var timesteps = sampler.Timesteps.ToArray();

        var overhead = new List<OverheadRow>();
        var guidance = new List<GuidanceRow>();
        foreach (var batch in batches)
        {
            using var bare = new BareUnet(session, batch, timesteps);
            var labels = Enumerable.Range(0, batch).Select(i => (long)(i % 10)).ToArray();
            GenerationRequest Request(double w) => new()
            {
                Sampling = ddim.Options(modelConfig, Steps, w), BatchSize = batch, ClassLabels = labels, Seed = 5,
            };
            var unguided = Request(1);
            var guided = Request(3);

            // Warm-up: the session's arena, the JIT, the pinned buffers.
            bare.Run();
            pipeline.Generate(unguided);
            pipeline.Generate(guided);

            var pairs = rounds;
            var bareTimes = new List<double>();
            var pipelineTimes = new List<double>();
            var guidedTimes = new List<double>();
            var unguidedForGuidance = new List<double>();
            for (var r = 0; r < pairs; r++)
            {
                // Alternate the order within a pair so that a drift in load does not favour either side.
                if (r % 2 == 0)
                {
                    bareTimes.Add(Time(bare.Run));
                    pipelineTimes.Add(Time(() => pipeline.Generate(unguided)));
                }
                else
                {
                    pipelineTimes.Add(Time(() => pipeline.Generate(unguided)));
                    bareTimes.Add(Time(bare.Run));
                }
                guidedTimes.Add(Time(() => pipeline.Generate(guided)));
                unguidedForGuidance.Add(pipelineTimes[^1]);
            }

            var ratios = pipelineTimes.Zip(bareTimes, (p, b) => p / b).ToList();
            var row = new OverheadRow(batch, Median(bareTimes), Median(pipelineTimes), Median(ratios), Quantile(ratios, 0.25), Quantile(ratios, 0.75), pairs);
            overhead.Add(row);
            var guidedRatios = guidedTimes.Zip(unguidedForGuidance, (g, u) => g / u).ToList();
            var guidedRow = new GuidanceRow(batch, Median(unguidedForGuidance), Median(guidedTimes), Median(guidedRatios), Quantile(guidedRatios, 0.25), Quantile(guidedRatios, 0.75), pairs);
            guidance.Add(guidedRow);
            log($"pipeline: batch {batch}: bare {row.BareMs:F1} ms, pipeline {row.PipelineMs:F1} ms, ratio {row.Ratio:F4} (quartiles {row.RatioLow:F4}–{row.RatioHigh:F4}, {pairs} pairs); " +
                $"guided {guidedRow.GuidedMs:F1} ms = {guidedRow.Ratio:F3}× unguided");
        }

        return new PipelineOverheadResult
        {
            Sampler = ddim.Label, Steps = Steps, Rounds = rounds, IntraOpThreads = threads, Overhead = overhead, Guidance = guidance,
            Seconds = Math.Round(clock.Elapsed.TotalSeconds, 1),
        };
    }

    private static double Time(Action action)
    {
        var start = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    private static double Time(Func<GenerationResult> generate) => Time(() => { generate(); });

    private static double Median(List<double> values) => Quantile(values, 0.5);

    private static double Quantile(List<double> values, double q)
    {
        var sorted = values.Order().ToArray();
        var position = q * (sorted.Length - 1);
        var low = (int)Math.Floor(position);
        var high = Math.Min(low + 1, sorted.Length - 1);
        return Math.Round(sorted[low] + (position - low) * (sorted[high] - sorted[low]), 4);
    }

    /// <summary><see cref="Steps"/> calls of the UNet through the plainest zero-allocation ONNX Runtime API, inputs made once.</summary>
    private sealed class BareUnet : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly double[] _timesteps;
        private readonly float[] _timestep;
        private readonly OrtValue[] _inputs, _outputs;
        private readonly string[] _inputNames = ["sample", "timestep", "class_labels"], _outputNames = ["out_sample"];
        private readonly RunOptions _runOptions = new();

        public BareUnet(InferenceSession session, int batch, double[] timesteps)
        {
            _session = session;
            _timesteps = timesteps;
            var sample = new float[batch * 28 * 28];
            new TorchGaussianNoise(5).NextGaussian(sample);
            _timestep = new float[batch];
            var labels = Enumerable.Range(0, batch).Select(i => (long)(i % 10)).ToArray();
            long[] imageShape = [batch, 1, 28, 28];
            _inputs =
            [
                OrtValue.CreateTensorValueFromMemory(sample, imageShape),
                OrtValue.CreateTensorValueFromMemory(_timestep, [batch]),
                OrtValue.CreateTensorValueFromMemory(labels, [batch]),
            ];
            _outputs = [OrtValue.CreateTensorValueFromMemory(new float[sample.Length], imageShape)];
        }

        public void Run()
        {
            foreach (var t in _timesteps)
            {
                _timestep.AsSpan().Fill((float)t);
                _session.Run(_runOptions, _inputNames, _inputs, _outputNames, _outputs);
            }
        }

        public void Dispose()
        {
            foreach (var value in _inputs.Concat(_outputs)) value.Dispose();
            _runOptions.Dispose();
        }
    }
}
