using BenchmarkDotNet.Attributes;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Microsoft.Extensions.DependencyInjection;

namespace Diffusion.Benchmarks.Steps;

/// <summary>
/// The cost of one sampler step, next to the memory-traffic floor of the same step measured in the same run.
/// </summary>
/// <remarks>
/// <para>
/// Every sampler runs on the digits model's <c>scheduler_config.json</c> with a 1000-step schedule, so the
/// measured steps never run out: before each iteration the timesteps are set again and <see cref="WarmSteps"/> steps
/// are taken, so multistep samplers (DPM-Solver++ 2M/3M, PNDM past its 12 Runge–Kutta evaluations) are measured in
/// their steady state; the iteration then takes <see cref="InvocationsPerIteration"/> consecutive steps. Inputs are
/// fixed buffers (model output and sample drawn once), the output goes to a third buffer, as in the pipeline.
/// </para>
/// <para>
/// Stochastic samplers (DDPM, Euler ancestral) draw their noise from <see cref="PreDrawnNoise"/>, a copy of values
/// drawn once: the step's own arithmetic is what is measured here. Drawing torch-compatible Gaussian noise is compute,
/// not memory traffic, and is measured on its own by <see cref="NoiseBenchmarks"/>.
/// </para>
/// <para>
/// The floor: the bytes a step of the method must read and write (<see cref="FloorTraffic"/>): the model output and
/// the sample in, the next sample out (3 tensors); the stochastic samplers also read a tensor of noise; the multistep
/// samplers also read the outputs they combine and store this step's in their history. <see cref="Floor"/> is a
/// <c>Span.CopyTo</c> of half that many tensors, which reads and writes exactly that many bytes.
/// </para>
/// </remarks>
[MemoryDiagnoser]
public class SamplerStepBenchmarks
{
    /// <summary>Length of the schedule the steps walk through.</summary>
    public const int ScheduleSteps = 1000;

    /// <summary>Steps taken before measuring, so that every history is full (PNDM's warm-up has 12 evaluations).</summary>
    public const int WarmSteps = 16;

    /// <summary>Steps per measured iteration (the schedule has room for them after the warm-up).</summary>
    public const int InvocationsPerIteration = 900;

    private ServiceProvider? _host;
    private ISampler _sampler = null!;
    private float[] _modelOutput = [], _sample = [], _prevSample = [];
    private float[] _floorSource = [], _floorDestination = [];
    private PreDrawnNoise _noise = null!;
    private int _batch, _next;

    /// <summary>The sampler variant (<see cref="SamplerVariant.Key"/>).</summary>
    [ParamsSource(nameof(Samplers))]
    public string Sampler { get; set; } = "ddim";

    /// <summary>The latent shape, N×C×H×W.</summary>
    [Params("1x4x64x64", "8x1x28x28")]
    public string Shape { get; set; } = "1x4x64x64";

    /// <summary>Every variant of <see cref="SamplerVariant.All"/> with a step of its own.</summary>
    public static IEnumerable<string> Samplers => SamplerVariant.All.Where(v => v.HasOwnStepCost).Select(v => v.Key);

    /// <summary>Whether a variant draws fresh noise every step.</summary>
    public static bool IsStochastic(string sampler) => sampler is "ddpm" or "euler-ancestral" or "kdpm2-ancestral" or "lcm" or "tcd";

    /// <summary>What a step of a variant must read and write, whole tensors, as its floor counts them.</summary>
    public static string FloorTraffic(string sampler) => sampler switch
    {
        "ddpm" or "euler-ancestral" or "lcm" or "tcd" => "read output, sample, noise; write sample",
        "dpm-2s" => "read output, sample, 1 past x₀ or the cycle's first sample; write sample, this x₀",
        "dpm-2m" => "read output, sample, 1 past x₀; write sample, this x₀",
        "dpm-3m" => "read output, sample, 2 past x₀; write sample, this x₀",
        "pndm" => "read output, sample, 3 past ε; write sample, this ε",
        // Two-evaluation steps, per call: the predictor keeps the interval's start (and Heun its slope), the corrector reads them.
        "heun" => "read output, sample; write sample, start, slope | read output, sample, start, slope; write sample",
        "kdpm2" or "kdpm2-ancestral" => "read output, sample; write sample, start | read output, sample, start [, noise]; write sample",
        "lms" => "read output, sample, 3 past slopes; write sample, this slope",
        "unipc" => "read output, sample, corrected sample, 2 past x₀; write sample, this x₀, corrected sample",
        "deis" => "read output, sample, 1 past ε; write sample, this ε",
        _ => "read output, sample; write sample",
    };

    /// <summary>Tensors of traffic in <see cref="FloorTraffic"/>.</summary>
    public static int FloorTensors(string sampler) => sampler switch
    {
        "ddpm" or "euler-ancestral" or "lcm" or "tcd" => 4,
        "dpm-2s" => 5,
        "dpm-2m" => 5,
        "dpm-3m" => 6,
        "pndm" => 7,
        "heun" => 5,
        "kdpm2" or "kdpm2-ancestral" => 4,
        "lms" => 7,
        "unipc" => 8,
        "deis" => 5,
        _ => 3,
    };

    /// <summary>Creates the sampler and the buffers.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var dims = Shape.Split('x').Select(int.Parse).ToArray();
        _batch = dims[0];
        var n = dims.Aggregate(1, (a, b) => a * b);
        _host = SamplerVariant.BuildHost();
        var variant = SamplerVariant.All.Single(v => v.Key == Sampler);
        var modelConfig = SchedulerConfigJson.Load(Path.Combine(Repository.DigitsModel, "scheduler", "scheduler_config.json"));
        _sampler = _host.GetRequiredService<ISamplerFactory>().Create(variant.Options(ScheduleSteps, guidance: 1), variant.ModelConfig(modelConfig));

        var source = new TorchGaussianNoise(7);
        _modelOutput = new float[n];
        _sample = new float[n];
        _prevSample = new float[n];
        source.NextGaussian(_modelOutput);
        source.NextGaussian(_sample);
        _noise = new PreDrawnNoise(n, seed: 8);

        // Half the step's tensors, copied: reads and writes FloorTensors(·)·n floats in all.
        var floorLength = FloorTensors(Sampler) * n / 2;
        _floorSource = new float[floorLength];
        _floorDestination = new float[floorLength];
        source.NextGaussian(_floorSource);
    }

    /// <summary>A fresh schedule with its history warm.</summary>
    [IterationSetup(Target = nameof(Step))]
    public void StartSchedule()
    {
        _sampler.SetTimesteps(ScheduleSteps);
        _next = 0;
        for (var i = 0; i < WarmSteps; i++) Step();
    }

    /// <summary>One sampler step.</summary>
    [Benchmark]
    public bool Step()
    {
        var t = _sampler.Timesteps[_next++];
        return _sampler.Step(new StepInput(_modelOutput, t, _sample, _batch), new StepOutput(_prevSample), _noise);
    }

    /// <summary>The memory-traffic floor of the step: a plain copy of as many bytes as it must read and write.</summary>
    [Benchmark(Baseline = true)]
    public void Floor() => _floorSource.AsSpan().CopyTo(_floorDestination);

    /// <summary>Releases the host.</summary>
    [GlobalCleanup]
    public void Cleanup() => _host?.Dispose();
}

/// <summary>Noise drawn once and handed out again by copying: the cost of reading a noise tensor, without generating it.</summary>
public sealed class PreDrawnNoise : INoiseSource
{
    private readonly float[] _values;

    /// <summary>Draws <paramref name="length"/> values once.</summary>
    public PreDrawnNoise(int length, ulong seed)
    {
        _values = new float[length];
        new TorchGaussianNoise(seed).NextGaussian(_values);
    }

    /// <inheritdoc/>
    public void NextGaussian(Span<float> destination) => _values.AsSpan(0, destination.Length).CopyTo(destination);
}

/// <summary>Drawing torch-compatible Gaussian noise (<see cref="TorchGaussianNoise"/>), which stochastic samplers do every step.</summary>
[MemoryDiagnoser]
public class NoiseBenchmarks
{
    private readonly TorchGaussianNoise _noise = new(1);
    private float[] _buffer = [];

    /// <summary>The latent shape, N×C×H×W.</summary>
    [Params("1x4x64x64", "8x1x28x28")]
    public string Shape { get; set; } = "1x4x64x64";

    /// <summary>Allocates the buffer.</summary>
    [GlobalSetup]
    public void Setup() => _buffer = new float[Shape.Split('x').Select(int.Parse).Aggregate(1, (a, b) => a * b)];

    /// <summary>One tensor of Gaussian noise.</summary>
    [Benchmark]
    public void Draw() => _noise.NextGaussian(_buffer);
}
