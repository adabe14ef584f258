using System.Globalization;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using NUnit.Framework;

namespace Diffusion.Sdk.Testing;

/// <summary>
/// The conformance kit of an inversion sampler (DDIM inversion, DPM-Solver inversion): one that runs the probability
/// flow the other way, from clean samples to the noise a deterministic sampler would turn into them, on ascending
/// timesteps. Derive a fixture and implement <see cref="CreateSampler"/>; NUnit runs the contract (ascending timesteps,
/// typed order errors, resetting, allocation-free and in-place steps, no noise drawn) and the exact answer on Gaussian
/// data: inverting samples of N(μ, s²) with the ideal denoiser converges to the exact probability-flow image of each
/// sample at the last timestep's noise level.
/// </summary>
/// <remarks>
/// The network is evaluated at each listed timestep on the sample the previous step produced, as inversion pipelines
/// do (the sample lags one step behind that noise level); the lag vanishes as steps grow, so the method is first order.
/// </remarks>
public abstract class InversionConformanceTests
{
    private const int ContractSteps = 12;
    private const int Samples = 2_000;

    /// <summary>The data the kit inverts: x₀ ~ N(0.5, 0.2²) per element.</summary>
    protected static GaussianData Data { get; } = new(0.5, 0.2);

    /// <summary>A new, independent instance of the sampler under test, from a fresh configuration (linear schedule, <c>clip_sample</c> off).</summary>
    protected abstract ISampler CreateSampler(SchedulerConfig config);

    /// <summary>The step counts at which the error must fall, ascending. Default 10, 20, 50, 200.</summary>
    protected virtual IReadOnlyList<int> ConvergenceSteps { get; } = [10, 20, 50, 200];

    /// <summary>The largest error allowed at the last of <see cref="ConvergenceSteps"/>, in the variance-preserving scale. Default 0.05.</summary>
    protected virtual double ConvergedError => 0.05;

    /// <summary>Timesteps ascend (data to noise), and none are set before SetTimesteps.</summary>
    [Test]
    public void TimestepsAscendFromDataToNoise()
    {
        var sampler = NewSampler();
        Assert.That(sampler.Timesteps, Is.Empty, "no timesteps before SetTimesteps");
        sampler.SetTimesteps(ContractSteps);
        Assert.That(sampler.Timesteps, Is.Not.Empty.And.Ordered.Ascending.And.Unique, "timesteps in the order they are visited");
    }

    /// <summary>A step before SetTimesteps, at a timestep the schedule does not list, or after the last, is a <see cref="SamplerStateException"/>.</summary>
    [Test]
    public void StepsOutOfOrderAreTypedErrors()
    {
        var x = new float[8];
        var sampler = NewSampler();
        Assert.Throws<SamplerStateException>(() => sampler.Step(new StepInput(x, 0, x), new StepOutput(new float[8]), new TorchGaussianNoise(0)), "before SetTimesteps");
        sampler.SetTimesteps(ContractSteps);
        Assert.Throws<SamplerStateException>(() => sampler.Step(new StepInput(x, sampler.Timesteps[0] + 0.5, x), new StepOutput(new float[8]), new TorchGaussianNoise(0)), "outside the schedule");
        var data = DataSamples(8, seed: 1);
        Invert(sampler, data, reset: false);
        Assert.Throws<SamplerStateException>(() => sampler.Step(new StepInput(x, sampler.Timesteps[^1], x), new StepOutput(new float[8]), new TorchGaussianNoise(0)), "after the last step");
    }

    /// <summary>SetTimesteps forgets a previous run, and two runs on the same data give the same bytes.</summary>
    [Test]
    public void SettingTimestepsAgainResetsAllState()
    {
        var sampler = NewSampler();
        var first = Invert(sampler, DataSamples(64, seed: 2));
        sampler.SetTimesteps(ContractSteps);
        Invert(sampler, DataSamples(64, seed: 3), reset: false, stopAfter: ContractSteps / 2);
        Assert.That(Invert(sampler, DataSamples(64, seed: 2)), Is.EqualTo(first));
    }

    /// <summary>Once warm a step allocates nothing, and stepping in place gives the same bytes; no noise is drawn.</summary>
    [Test]
    public void StepsAreAllocationFreeInPlaceAndDeterministic()
    {
        const int length = 2 * 4 * 8 * 8;
        var sampler = NewSampler();
        var separate = Invert(sampler, DataSamples(length, seed: 4));
        var x = DataSamples(length, seed: 4);
        var output = new float[length];
        var noise = new CountingNoise();
        sampler.SetTimesteps(ContractSteps);
        long before = 0;
        for (var k = 0; k < sampler.Timesteps.Count; k++)
        {
            if (k == 1) before = GC.GetAllocatedBytesForCurrentThread();
            var t = sampler.Timesteps[k];
            ClosedFormSampling.IdealDenoiser(Data, sampler, k, t, x, output);
            sampler.Step(new StepInput(output, t, x, 2), new StepOutput(x), noise);
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Multiple(() =>
        {
            Assert.That(allocated, Is.Zero, "bytes allocated after the first step");
            Assert.That(x, Is.EqualTo(separate), "in place");
            Assert.That(noise.Draws, Is.Zero, "an inversion is deterministic");
        });
    }

    /// <summary>
    /// Inverting data samples with the ideal denoiser reaches the exact probability-flow image at the last timestep's
    /// noise level, √ᾱ·μ + (x₀ − μ)·√(V/s²), falling at every step count of <see cref="ConvergenceSteps"/> to below
    /// <see cref="ConvergedError"/>.
    /// </summary>
    [Test]
    public void ReachesTheExactNoiseOfItsData()
    {
        var steps = ConvergenceSteps;
        var errors = new double[steps.Count];
        for (var i = 0; i < steps.Count; i++)
        {
            var sampler = NewSampler();
            sampler.SetTimesteps(steps[i]);
            var x0 = DataSamples(Samples, seed: 7);
            var noised = Invert(sampler, x0, reset: false);
            var alphaBar = FinalAlphaBar(sampler);
            errors[i] = noised.Select((v, j) => Math.Abs(v - Data.ExactFlow(x0[j], 1.0, alphaBar))).Max();
        }
        TestContext.Out.WriteLine($"{NewSampler().Name}: max error at {string.Join("/", steps)} steps: " +
            string.Join(" / ", errors.Select(e => e.ToString("E2", CultureInfo.InvariantCulture))));
        Assert.Multiple(() =>
        {
            for (var i = 1; i < errors.Length; i++) Assert.That(errors[i], Is.LessThan(errors[i - 1]), $"{steps[i - 1]} → {steps[i]} steps");
            Assert.That(errors[^1], Is.LessThan(ConvergedError), $"error at {steps[^1]} steps");
        });
    }

    /// <summary>
    /// ᾱ of the noise level a run ends at: after the last σ of a σ table (<see cref="ISigmaSampler.Sigmas"/>, whose last entry
    /// is where the last step goes), else ᾱ of the last timestep (DDIM inversion's last step goes to it).
    /// </summary>
    protected virtual double FinalAlphaBar(ISampler sampler)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        if (SamplerDecorator.Unwrap(sampler) is ISigmaSampler sigmas) return 1 / (1 + sigmas.Sigmas[^1] * sigmas.Sigmas[^1]);
        return sampler.Schedule.AlphasCumprod[(int)sampler.Timesteps[^1]];
    }

    private ISampler NewSampler() => CreateSampler(new SchedulerConfig { ClipSample = false }) ?? throw new InvalidOperationException($"{GetType().Name}.{nameof(CreateSampler)} returned null.");

    private static float[] DataSamples(int count, ulong seed)
    {
        var x = new float[count];
        new TorchGaussianNoise(seed).NextGaussian(x);
        for (var i = 0; i < count; i++) x[i] = (float)(Data.Mean + Data.Std * x[i]);
        return x;
    }

    // Runs the inversion from x with the ideal denoiser, at each listed timestep on the previous step's sample.
    private static float[] Invert(ISampler sampler, float[] x, bool reset = true, int stopAfter = int.MaxValue)
    {
        if (reset) sampler.SetTimesteps(ContractSteps);
        x = (float[])x.Clone();
        var output = new float[x.Length];
        var next = new float[x.Length];
        for (var k = 0; k < sampler.Timesteps.Count && k < stopAfter; k++)
        {
            var t = sampler.Timesteps[k];
            ClosedFormSampling.IdealDenoiser(Data, sampler, k, t, x, output);
            sampler.Step(new StepInput(output, t, x, 1), new StepOutput(next), new TorchGaussianNoise(0));
            (x, next) = (next, x);
        }
        return x;
    }

    private sealed class CountingNoise : INoiseSource
    {
        public int Draws { get; private set; }

        public void NextGaussian(Span<float> destination)
        {
            Draws++;
            destination.Clear();
        }
    }
}
