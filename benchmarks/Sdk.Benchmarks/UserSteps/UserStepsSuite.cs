using System.Numerics.Tensors;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Microsoft.Extensions.DependencyInjection;

namespace Diffusion.Benchmarks.UserSteps;

/// <summary>One sampler on one shape: the SDK's loop next to the reference's.</summary>
/// <param name="Sampler">The registered sampler name.</param>
/// <param name="ClassName">The reference class it answers to (what the reference side runs).</param>
/// <param name="Shape">N×C×H×W.</param>
/// <param name="Calls">Step calls per run (the timestep list's length; Heun-like samplers call twice per interval).</param>
/// <param name="SdkUs">The SDK: median µs per step call of the whole run (creation, timesteps, initial noise, every step).</param>
/// <param name="ReferenceUs">The reference, the same way; null when not measured.</param>
/// <param name="Ratio">Reference ÷ SDK (how many times faster the SDK is); null when not measured.</param>
/// <param name="Note">Why the reference is not measured, where it is not.</param>
/// <param name="WarmStepBytes">Bytes allocated on this thread by the steps after the first (scratch buffers exist then).</param>
/// <param name="FirstRunBytes">Bytes allocated by creation, set-timesteps and the first step (the sampler's tables and buffers).</param>
public sealed record UserStepRow(string Sampler, string? ClassName, string Shape, int Calls, double SdkUs, double? ReferenceUs, double? Ratio, string? Note,
    long WarmStepBytes, long FirstRunBytes);

/// <summary>One seeded noise draw: <see cref="TorchGaussianNoise"/> next to <c>torch.randn</c>.</summary>
/// <param name="Shape">N×C×H×W.</param>
/// <param name="Elements">Values drawn.</param>
/// <param name="SdkUs">Median µs of one draw.</param>
/// <param name="TorchUs">The same for <c>torch.randn(shape, generator=…)</c>; null when not measured.</param>
/// <param name="Ratio">torch ÷ SDK; null when not measured.</param>
/// <param name="Bytes">Bytes one draw allocates.</param>
public sealed record UserNoiseRow(string Shape, int Elements, double SdkUs, double? TorchUs, double? Ratio, long Bytes);

/// <summary>The <c>user-steps</c> suite's numbers.</summary>
/// <param name="Reference">What the reference side was, or why it was not measured.</param>
/// <param name="Method">How both sides were measured.</param>
/// <param name="Rows">One row per registered sampler and shape.</param>
/// <param name="Noise">The noise draw on each shape.</param>
public sealed record UserStepsResult(string Reference, string Method, List<UserStepRow> Rows, List<UserNoiseRow> Noise);

/// <summary>
/// A user's sampling loop, as README's "Use a sampler directly" runs it, against the reference's, measured side by
/// side: a fresh sampler from the factory, <c>SetTimesteps(50)</c>, the initial noise, then per timestep
/// <c>ScaleModelInput</c> and <c>Step</c> in place with a fixed model output, the sampler drawing its own noise from
/// <see cref="TorchGaussianNoise"/>. Every sampler registered in the factory is measured.
/// </summary>
public static class UserStepsSuite
{
    /// <summary>Inference steps per run.</summary>
    public const int Steps = 50;

    /// <summary>Measured SDK runs (median taken).</summary>
    public const int SdkRuns = 7;

    /// <summary>Measured reference runs (median taken), after one warm-up run.</summary>
    public const int ReferenceRuns = 5;

    /// <summary>SDK runs before measuring, so that the JIT has compiled the loop's methods at full optimisation.</summary>
    public const int SdkWarmRuns = 20;

    /// <summary>Rounds of side-by-side measurements per case (the reported figures are medians over the rounds).</summary>
    public const int Rounds = 5;

    private const int NoiseDraws = 100, NoiseRuns = 7;

    /// <summary>The two shapes: one Stable Diffusion latent, and a batch of eight digits.</summary>
    public static readonly int[][] Shapes = [[1, 4, 64, 64], [8, 1, 28, 28]];

    /// <summary>The schedule both sides use: Stable Diffusion's (scaled linear β, 1000 training steps); the rest are each sampler's defaults.</summary>
    public static SchedulerConfig Config() => new() { NumTrainTimesteps = 1000, BetaSchedule = BetaSchedule.ScaledLinear, BetaStart = 0.00085, BetaEnd = 0.012 };

    /// <summary>Runs the suite on every sampler registered in <paramref name="host"/>'s factory.</summary>
    public static UserStepsResult Run(IServiceProvider host, Action<string> log)
    {
        var factory = host.GetRequiredService<ISamplerFactory>();
        var classNames = host.GetServices<SamplerRegistration>().GroupBy(r => r.Name, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First().ClassName, StringComparer.OrdinalIgnoreCase);
        using var reference = ReferenceProcess.Start(Repository.Path("benchmarks", "Sdk.Benchmarks", "UserSteps", "reference_user_steps.py"));
        log($"reference: {reference.Status}");

        var noise = new List<UserNoiseRow>();
        foreach (var shape in Shapes)
        {
            var (sdk, bytes) = MeasureNoise(shape);
            var torch = reference.Randn(shape, NoiseDraws, NoiseRuns, ThreadClock.IsThreadCpuTime);
            var row = new UserNoiseRow(Label(shape), Elements(shape), Math.Round(sdk, 2), Round(torch), Round(torch / sdk), bytes);
            noise.Add(row);
            log($"noise {row.Shape,-10} SDK {row.SdkUs,8:F1} µs  torch.randn {Text(row.TorchUs, "F1", " µs")}  ratio {Text(row.Ratio, "F2", "×")}");
        }

        // Every (sampler, shape) case is measured once per round, the rounds going over all the cases in turn, and each side's
        // figure is the median over the rounds: a burst of load on a shared machine, or a slow spell of a few seconds on one
        // of its cores, then moves one round of several cases instead of every round of one case.
        var cases = factory.Names.SelectMany(name => Shapes.Select(shape => new UserCase(name, shape, classNames.GetValueOrDefault(name), new UserLoop(factory, name, shape))))
            .ToList();
        for (var round = 0; round < Rounds; round++)
        {
            foreach (var c in cases)
            {
                var (sdkRound, roundCalls, warm, first) = c.Loop.Measure();
                c.SdkRounds.Add(sdkRound);
                (c.Calls, c.WarmBytes, c.FirstBytes) = (roundCalls, Math.Max(c.WarmBytes, warm), Math.Max(c.FirstBytes, first));
                if (c.ClassName is null) continue;
                if (reference.Loop(c.ClassName, c.Shape, Steps, ReferenceRuns, ThreadClock.IsThreadCpuTime, out var why) is { } m)
                {
                    c.ReferenceRounds.Add(m.UsPerCall);
                    c.ReferenceCalls = m.Calls;
                }
                else c.Note = why;
            }
        }

        var rows = new List<UserStepRow>();
        foreach (var c in cases)
        {
            var note = c.ClassName is null ? "not measured: no reference class" : c.Note;
            var sdk = Median(c.SdkRounds);
            double? measured = c.ReferenceRounds.Count > 0 ? Median(c.ReferenceRounds) : null;
            if (measured is not null && c.ReferenceCalls != c.Calls) note = $"the reference takes {c.ReferenceCalls} calls, the SDK {c.Calls}";
            var row = new UserStepRow(c.Name, c.ClassName, Label(c.Shape), c.Calls, Math.Round(sdk, 2), Round(measured), Round(measured / sdk), note,
                c.WarmBytes, c.FirstBytes);
            rows.Add(row);
            log($"{c.Name,-24} {row.Shape,-10} SDK {row.SdkUs,8:F2} µs/step  reference {Text(row.ReferenceUs, "F1", " µs/step")}  ratio {Text(row.Ratio, "F1", "×")}" +
                $"  warm steps allocated {c.WarmBytes} B{(note is null ? "" : $"  ({note})")}");
        }

        var method = $"clock: the {ThreadClock.Name} of the measuring thread, on both sides (on a shared machine it counts only the time the thread ran); {Rounds} rounds, each over every (sampler, shape) case in turn, of: the SDK's run repeated {SdkWarmRuns} times to warm the JIT (first round), then the median of {SdkRuns} runs; right after it, " +
                     $"the reference's median of {ReferenceRuns} runs after one warm-up run, in its own process; each side's figure is the median over the rounds. A run: a fresh sampler, set-timesteps({Steps}), " +
                     "the initial noise (seed 42, times the initial σ), then scale-model-input and step per timestep with a fixed model output " +
                     "(0.1·randn, seed 3) and the sampler's own seeded noise; µs per step call = the run's time ÷ its calls. " +
                     $"Noise: the median of {NoiseRuns} means over {NoiseDraws} draws of one tensor, after {NoiseDraws} warm-up draws, on both sides.";
        return new UserStepsResult(reference.Status, method, rows, noise);
    }

    private static (double Us, long Bytes) MeasureNoise(int[] shape)
    {
        var buffer = new float[Elements(shape)];
        var source = new TorchGaussianNoise(1);
        for (var i = 0; i < NoiseDraws; i++) source.NextGaussian(buffer);
        var times = new List<double>();
        long bytes = 0;
        for (var r = 0; r < NoiseRuns; r++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            var clock = ThreadClock.NowMicroseconds();
            for (var i = 0; i < NoiseDraws; i++) source.NextGaussian(buffer);
            var elapsed = ThreadClock.NowMicroseconds() - clock;
            bytes = Math.Max(bytes, (GC.GetAllocatedBytesForCurrentThread() - before) / NoiseDraws);
            times.Add(elapsed / NoiseDraws);
        }
        return (Median(times), bytes);
    }

    /// <summary>One (sampler, shape) case and its rounds so far.</summary>
    private sealed class UserCase(string name, int[] shape, string? className, UserLoop loop)
    {
        public string Name { get; } = name;
        public int[] Shape { get; } = shape;
        public string? ClassName { get; } = className;
        public UserLoop Loop { get; } = loop;
        public List<double> SdkRounds { get; } = [];
        public List<double> ReferenceRounds { get; } = [];
        public int Calls { get; set; }
        public int ReferenceCalls { get; set; }
        public long WarmBytes { get; set; }
        public long FirstBytes { get; set; }
        public string? Note { get; set; }
    }

    /// <summary>The user's loop for one sampler and shape, with its buffers made once.</summary>
    private sealed class UserLoop(ISamplerFactory factory, string name, int[] shape)
    {
        private readonly float[] _sample = new float[Elements(shape)], _modelInput = new float[Elements(shape)], _modelOutput = ModelOutput(shape);
        private readonly SchedulerConfig _config = Config();

        private bool _warm;

        public (double UsPerCall, int Calls, long WarmStepBytes, long FirstRunBytes) Measure()
        {
            if (!_warm)
            {
                for (var i = 0; i < SdkWarmRuns; i++) RunOnce(out _, out _, out _);
                _warm = true;
            }
            var times = new List<double>();
            int calls = 0;
            long warm = 0, first = 0;
            for (var i = 0; i < SdkRuns; i++)
            {
                times.Add(RunOnce(out calls, out var w, out var f));
                warm = Math.Max(warm, w);
                first = Math.Max(first, f);
            }
            return (Median(times), calls, warm, first);
        }

        // README's "Use a sampler directly", timed as a whole; the allocation counters are read outside the timed part's arithmetic.
        private double RunOnce(out int calls, out long warmStepBytes, out long firstRunBytes)
        {
            var start = GC.GetAllocatedBytesForCurrentThread();
            var clock = ThreadClock.NowMicroseconds();
            var sampler = factory.Create(name, _config);
            sampler.SetTimesteps(Steps);
            var noise = new TorchGaussianNoise(seed: 42);
            noise.NextGaussian(_sample);
            TensorPrimitives.Multiply(_sample, (float)sampler.InitNoiseSigma, _sample);
            var batch = shape[0];
            var timesteps = sampler.Timesteps;
            long afterFirst = 0;
            for (var k = 0; k < timesteps.Count; k++)
            {
                var t = timesteps[k];
                sampler.ScaleModelInput(_sample, t, _modelInput);
                sampler.Step(new StepInput(_modelOutput, t, _sample, batch), new StepOutput(_sample), noise);
                if (k == 0) afterFirst = GC.GetAllocatedBytesForCurrentThread();
            }
            var elapsed = ThreadClock.NowMicroseconds() - clock;
            var end = GC.GetAllocatedBytesForCurrentThread();
            calls = timesteps.Count;
            warmStepBytes = end - afterFirst;
            firstRunBytes = afterFirst - start;
            return elapsed / calls;
        }

        private static float[] ModelOutput(int[] shape)
        {
            var output = new float[Elements(shape)];
            new TorchGaussianNoise(3).NextGaussian(output);
            TensorPrimitives.Multiply(output, 0.1f, output);
            return output;
        }
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values.Count % 2 == 1 ? values[values.Count / 2] : (values[values.Count / 2 - 1] + values[values.Count / 2]) / 2;
    }

    private static double? Round(double? value) => value is { } v ? Math.Round(v, 2) : null;

    private static string Text(double? value, string format, string unit) =>
        value is { } v ? v.ToString(format, System.Globalization.CultureInfo.InvariantCulture) + unit : "not measured";

    /// <summary>"1x4x64x64".</summary>
    public static string Label(int[] shape) => string.Join('x', shape);

    private static int Elements(int[] shape) => shape.Aggregate(1, (a, b) => a * b);
}
