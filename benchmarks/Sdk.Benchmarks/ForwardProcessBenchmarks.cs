using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Training;

namespace Diffusion.Benchmarks;

/// <summary>
/// One draw of x_t at the last training timestep (index 999, the paper's t = 1000) of the linear 1000-step schedule,
/// for one 4×64×64 sample: the closed-form jump <see cref="ForwardProcess.QSample"/> against the chain of 1000
/// <see cref="ForwardProcess.Step"/> calls. "with noise" includes drawing the Gaussian noise (one draw for the jump, one
/// per step for the chain), which is what producing a training example costs; "arithmetic only" reuses one noise
/// buffer, to show the cost of the arithmetic alone. Each category has its own baseline, so BenchmarkDotNet's Ratio
/// column is sequential ÷ jump.
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class ForwardProcessBenchmarks
{
    /// <summary>The timestep of the comparison: index 999, the 1000th step.</summary>
    public const int Timestep = 999;

    private const int Size = 4 * 64 * 64;

    private readonly NoiseSchedule _schedule = NoiseSchedule.FromConfig(new SchedulerConfig());
    private readonly float[] _x0 = new float[Size];
    private readonly float[] _noise = new float[Size];
    private readonly float[] _destination = new float[Size];
    private readonly float[] _scratch = new float[Size];
    private TorchGaussianNoise _source = new(0);

    [GlobalSetup]
    public void Setup()
    {
        _source = new TorchGaussianNoise(0);
        _source.NextGaussian(_x0);
        _source.NextGaussian(_noise);
    }

    [Benchmark(Baseline = true, Description = "jump q(x_t | x_0)"), BenchmarkCategory("with noise")]
    public float JumpWithNoise()
    {
        _source.NextGaussian(_scratch);
        ForwardProcess.QSample(_schedule, Timestep, _x0, _scratch, _destination);
        return _destination[0];
    }

    [Benchmark(Description = "sequential q(x_s | x_{s-1}), s = 0..t"), BenchmarkCategory("with noise")]
    public float SequentialWithNoise()
    {
        ForwardProcess.SequentialSample(_schedule, Timestep, _x0, _source, _destination, _scratch);
        return _destination[0];
    }

    [Benchmark(Baseline = true, Description = "jump q(x_t | x_0)"), BenchmarkCategory("arithmetic only")]
    public float JumpArithmetic()
    {
        ForwardProcess.QSample(_schedule, Timestep, _x0, _noise, _destination);
        return _destination[0];
    }

    [Benchmark(Description = "sequential q(x_s | x_{s-1}), s = 0..t"), BenchmarkCategory("arithmetic only")]
    public float SequentialArithmetic()
    {
        _x0.CopyTo(_destination, 0);
        for (var s = 0; s <= Timestep; s++) ForwardProcess.Step(_schedule, s, _destination, _noise, _destination);
        return _destination[0];
    }
}
