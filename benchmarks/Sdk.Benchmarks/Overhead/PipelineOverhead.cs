using System.Diagnostics;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk;
using Microsoft.ML.OnnxRuntime;
using static Diffusion.Benchmarks.Infrastructure.SideBySide;

namespace Diffusion.Benchmarks.Overhead;

/// <summary>Pipeline against bare ONNX Runtime at one batch size: medians over the rounds, and the per-round ratios.</summary>
/// <param name="Batch">Images per call.</param>
/// <param name="BareRunMs">Median time of <see cref="PipelineOverhead.Steps"/> bare <c>InferenceSession.Run</c> calls.</param>
/// <param name="BareBoundMs">Median time of as many bare <c>RunWithBinding</c> calls (inputs and output bound once).</param>
/// <param name="PipelineMs">Median time of one <c>DiffusionPipeline.Generate</c> with that many steps.</param>
/// <param name="RatioToRun">Median over rounds of pipeline ÷ bare <c>Run</c>, measured in the same round.</param>
/// <param name="RatioToRunLow">Lower quartile of those ratios.</param>
/// <param name="RatioToRunHigh">Upper quartile of those ratios.</param>
/// <param name="RatioToBound">Median over rounds of pipeline ÷ bare <c>RunWithBinding</c>.</param>
/// <param name="RatioToBoundLow">Lower quartile of those ratios.</param>
/// <param name="RatioToBoundHigh">Upper quartile of those ratios.</param>
/// <param name="Rounds">How many rounds were measured.</param>
public sealed record OverheadRow(int Batch, double BareRunMs, double BareBoundMs, double PipelineMs, double RatioToRun, double RatioToRunLow, double RatioToRunHigh,
    double RatioToBound, double RatioToBoundLow, double RatioToBoundHigh, int Rounds)
{
    /// <summary>The ratio to the faster of the two bare ways, which is the target's measure.</summary>
    public double Ratio => Math.Max(RatioToRun, RatioToBound);
}

/// <summary>Guided against unguided generation at one batch size.</summary>
/// <param name="Batch">Images per request.</param>
/// <param name="UnguidedMs">Median time with guidance 1 (one network pass of the batch per step).</param>
/// <param name="GuidedMs">Median time with guidance 3 (conditional and unconditional passes as one batch of twice the size).</param>
/// <param name="Ratio">Median over rounds of guided ÷ unguided.</param>
/// <param name="RatioLow">Lower quartile of the per-round ratios.</param>
/// <param name="RatioHigh">Upper quartile of the per-round ratios.</param>
/// <param name="Rounds">How many rounds were measured.</param>
public sealed record GuidanceRow(int Batch, double UnguidedMs, double GuidedMs, double Ratio, double RatioLow, double RatioHigh, int Rounds);

/// <summary>The SDK's own work: the pipeline with a network that does nothing, next to the bare network time.</summary>
/// <param name="Batch">Images per request.</param>
/// <param name="Microseconds">Median time of a <see cref="PipelineOverhead.Steps"/>-step generation whose network only copies its input.</param>
/// <param name="ShareOfBare">That time ÷ the median bare <c>RunWithBinding</c> time of the same batch.</param>
public sealed record SdkWorkRow(int Batch, double Microseconds, double ShareOfBare);

/// <summary>Managed memory a generation allocates on its thread.</summary>
/// <param name="Batch">Images per request.</param>
/// <param name="Guidance">Guidance weight.</param>
/// <param name="BytesPerGeneration">Bytes for a whole generation of <see cref="PipelineOverhead.Steps"/> steps (set-up included).</param>
/// <param name="BytesPerStep">Bytes per step of the loop, read by the per-step callback: (after the last step − after the first) / (Steps − 1).</param>
public sealed record AllocationRow(int Batch, double Guidance, long BytesPerGeneration, double BytesPerStep);

/// <summary>The pipeline-overhead suite's numbers.</summary>
public sealed record PipelineOverheadResult
{
    public required string Sampler { get; init; }
    public required int Steps { get; init; }
    public required int Rounds { get; init; }
    public required int IntraOpThreads { get; init; }
    public required List<OverheadRow> Overhead { get; init; }
    public required List<GuidanceRow> Guidance { get; init; }
    public required List<AllocationRow> Allocation { get; init; }
    public List<SdkWorkRow> SdkWork { get; init; } = [];
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

        // The bare calls go to the model's own session: a second session would bring a second thread pool, whose
        // threads spin after each run and take this 2-core machine's cores from the other side.
        var session = model.Session;

        var sampler = factory.Create(ddim.Options(Steps, 1), modelConfig);
        sampler.SetTimesteps(Steps);
        var timesteps = sampler.Timesteps.ToArray();

        var overhead = new List<OverheadRow>();
        var guidance = new List<GuidanceRow>();
        var allocation = new List<AllocationRow>();
        var sdkWork = new List<SdkWorkRow>();
        var noNetwork = new DiffusionPipeline(new CopyingModel(model), factory);
        foreach (var batch in batches)
        {
            var labels = Enumerable.Range(0, batch).Select(i => (long)(i % 10)).ToArray();
            GenerationRequest Request(double w, StepCallback? onStep = null) => new()
            {
                Sampling = ddim.Options(Steps, w), BatchSize = batch, ClassLabels = labels, Seed = 5, OnStep = onStep,
            };
            var unguided = Request(1);
            var guided = Request(3);

            // The bare calls get the very inputs the pipeline gives the network: the seeded x_T, then each step's latents
            // (DDIM's input scaling is the identity). The network's speed depends on its input (tiny activations become
            // subnormal numbers, which the CPU handles slowly), so stale or made-up inputs would not be a fair floor.
            var inputs = new List<float[]> { InitialNoise(batch) };
            pipeline.Generate(Request(1, (step, latents) => { if (step.Index < Steps - 1) inputs.Add(latents.ToArray()); }));
            using var bare = new BareUnet(session, labels, timesteps, inputs);

            // Warm-up: the session's arena, the JIT, the pinned buffers.
            bare.Run();
            bare.RunBound();
            pipeline.Generate(unguided);
            pipeline.Generate(guided);

            // Allocation: of a whole generation, and of the step loop alone, read at the end of every step by the
            // per-step callback (which itself allocates nothing): (after the last step − after the first) / (Steps − 1).
            foreach (var w in new[] { 1.0, 3.0 })
            {
                var afterStep = new long[Steps];
                var request = Request(w, (step, _) => afterStep[step.Index] = GC.GetAllocatedBytesForCurrentThread());
                pipeline.Generate(request);
                var before = GC.GetAllocatedBytesForCurrentThread();
                pipeline.Generate(request);
                var whole = GC.GetAllocatedBytesForCurrentThread() - before;
                allocation.Add(new AllocationRow(batch, w, whole, Math.Round((afterStep[^1] - afterStep[0]) / (double)(Steps - 1), 1)));
                log($"pipeline: batch {batch}, guidance {w}: {whole:N0} bytes per {Steps}-step generation, {allocation[^1].BytesPerStep:F1} per step of the loop");
            }

            // Each round times the four back to back, in an order rotated from round to round so that a drift in the
            // machine's load does not favour any of them.
            var times = new List<double>[4];
            for (var i = 0; i < times.Length; i++) times[i] = [];
            Action[] actions =
            [
                bare.Run,
                bare.RunBound,
                () => pipeline.Generate(unguided),
                () => pipeline.Generate(guided),
            ];
            // A batch of one runs in a sixth of the time: three times the rounds cost little and narrow its spread.
            var batchRounds = batch == 1 ? 3 * rounds : rounds;
            for (var r = 0; r < batchRounds; r++)
                for (var i = 0; i < actions.Length; i++)
                {
                    var which = (i + r) % actions.Length;
                    times[which].Add(Time(actions[which]));
                }
            var (bareRun, bareBound, unguidedTimes, guidedTimes) = (times[0], times[1], times[2], times[3]);

            var toRun = unguidedTimes.Zip(bareRun, (p, b) => p / b).ToList();
            var toBound = unguidedTimes.Zip(bareBound, (p, b) => p / b).ToList();
            var row = new OverheadRow(batch, Median(bareRun), Median(bareBound), Median(unguidedTimes),
                Median(toRun), Quantile(toRun, 0.25), Quantile(toRun, 0.75), Median(toBound), Quantile(toBound, 0.25), Quantile(toBound, 0.75), batchRounds);
            overhead.Add(row);
            var guidedRatios = guidedTimes.Zip(unguidedTimes, (g, u) => g / u).ToList();
            var guidedRow = new GuidanceRow(batch, Median(unguidedTimes), Median(guidedTimes), Median(guidedRatios), Quantile(guidedRatios, 0.25), Quantile(guidedRatios, 0.75), batchRounds);
            guidance.Add(guidedRow);

            // The SDK's own work, without the network's time and its noise: the same requests through a network that copies.
            var sdkOnly = new List<double>();
            noNetwork.Generate(unguided);
            for (var r = 0; r < 100; r++) sdkOnly.Add(Time(() => noNetwork.Generate(unguided)));
            var sdkRow = new SdkWorkRow(batch, Math.Round(1000 * Median(sdkOnly), 1), Math.Round(Median(sdkOnly) / row.BareBoundMs, 5));
            sdkWork.Add(sdkRow);
            log($"pipeline: batch {batch}: the pipeline around a network that only copies takes {sdkRow.Microseconds:F0} µs, {100 * sdkRow.ShareOfBare:F2} % of the bare network time");
            log($"pipeline: batch {batch}: bare Run {row.BareRunMs:F1} ms, bare IOBinding {row.BareBoundMs:F1} ms, pipeline {row.PipelineMs:F1} ms; " +
                $"pipeline ÷ Run {row.RatioToRun:F4} ({row.RatioToRunLow:F4}–{row.RatioToRunHigh:F4}), ÷ IOBinding {row.RatioToBound:F4} ({row.RatioToBoundLow:F4}–{row.RatioToBoundHigh:F4}), " +
                $"{batchRounds} rounds; guided {guidedRow.GuidedMs:F1} ms = {guidedRow.Ratio:F3}× unguided");
        }

        return new PipelineOverheadResult
        {
            Sampler = ddim.Label, Steps = Steps, Rounds = rounds, IntraOpThreads = threads, Overhead = overhead, Guidance = guidance, Allocation = allocation, SdkWork = sdkWork,
            Seconds = Math.Round(clock.Elapsed.TotalSeconds, 1),
        };
    }

    // A local overload hides the shared one from member lookup, so both are named here.
    private static double Time(Action action) => SideBySide.Time(action);

    private static double Time(Func<GenerationResult> generate) => SideBySide.Time(() => { generate(); });

    private static double Median(List<double> values) => Quantile(values, 0.5);


    /// <summary>The digits model's description and schedule, with a network that copies its input to its output.</summary>
    private sealed class CopyingModel(IDiffusionModel model) : IDiffusionModel
    {
        public ModelInfo Info => model.Info;

        public SchedulerConfig? SchedulerConfig => model.SchedulerConfig;

        public IDenoiser CreateDenoiser() => new Copying();

        public void Dispose() { }

        private sealed class Copying : IDenoiser
        {
            public int? FixedBatchSize => null;

            public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default) => input.Sample.CopyTo(output);
            public void Dispose() { }
        }
    }

    /// <summary>The pipeline's x_T for seed 5: DDIM starts from unit-variance noise.</summary>
    private static float[] InitialNoise(int batch)
    {
        var x = new float[batch * 28 * 28];
        new TorchGaussianNoise(5).NextGaussian(x);
        return x;
    }

    /// <summary>
    /// <see cref="Steps"/> calls of the UNet through the plainest zero-allocation ONNX Runtime API: tensors made once over
    /// arrays, and before each call the step's input copied in and its timestep written.
    /// </summary>
    private sealed class BareUnet : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly double[] _timesteps;
        private readonly List<float[]> _stepInputs;
        private readonly float[] _sample, _timestep;
        private readonly OrtValue[] _inputs, _outputs;
        private readonly string[] _inputNames = ["sample", "timestep", "class_labels"], _outputNames = ["out_sample"];
        private readonly RunOptions _runOptions = new();
        private readonly OrtIoBinding _binding;

        public BareUnet(InferenceSession session, long[] labels, double[] timesteps, List<float[]> stepInputs)
        {
            _session = session;
            _timesteps = timesteps;
            _stepInputs = stepInputs;
            var batch = labels.Length;
            _sample = new float[batch * 28 * 28];
            _timestep = new float[batch];
            long[] imageShape = [batch, 1, 28, 28];
            _inputs =
            [
                OrtValue.CreateTensorValueFromMemory(_sample, imageShape),
                OrtValue.CreateTensorValueFromMemory(_timestep, [batch]),
                OrtValue.CreateTensorValueFromMemory(labels.ToArray(), [batch]),
            ];
            _outputs = [OrtValue.CreateTensorValueFromMemory(new float[_sample.Length], imageShape)];
            _binding = session.CreateIoBinding();
            for (var i = 0; i < _inputs.Length; i++) _binding.BindInput(_inputNames[i], _inputs[i]);
            _binding.BindOutput(_outputNames[0], _outputs[0]);
        }

        public void Run()
        {
            for (var k = 0; k < _timesteps.Length; k++)
            {
                _stepInputs[k].CopyTo(_sample, 0);
                _timestep.AsSpan().Fill((float)_timesteps[k]);
                _session.Run(_runOptions, _inputNames, _inputs, _outputNames, _outputs);
            }
        }

        /// <summary>The same calls through IOBinding, the way the SDK's denoiser runs the session.</summary>
        public void RunBound()
        {
            for (var k = 0; k < _timesteps.Length; k++)
            {
                _stepInputs[k].CopyTo(_sample, 0);
                _timestep.AsSpan().Fill((float)_timesteps[k]);
                _session.RunWithBinding(_runOptions, _binding);
            }
        }

        public void Dispose()
        {
            _binding.Dispose();
            foreach (var value in _inputs.Concat(_outputs)) value.Dispose();
            _runOptions.Dispose();
        }
    }
}
