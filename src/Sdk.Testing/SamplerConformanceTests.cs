using System.Globalization;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using NUnit.Framework;

namespace Diffusion.Sdk.Testing;

/// <summary>Whether a sampler draws noise during a run.</summary>
public enum SamplerKind
{
    /// <summary>Never draws noise: the result is a function of x_T (an ODE solver such as DDIM with η = 0, Euler or Heun).</summary>
    Deterministic,

    /// <summary>Draws fresh noise during the run (DDPM, ancestral and SDE samplers).</summary>
    Stochastic,
}

/// <summary>
/// The conformance kit: every check the SDK makes of its own samplers, for any <see cref="ISampler"/>. Derive a
/// fixture, implement <see cref="CreateSampler"/>, and NUnit runs the contract (resetting, typed order errors,
/// isolation between instances, allocation-free steps, in-place steps, every prediction type, every built-in wrapper
/// around it) and the exact answers on Gaussian data, whose ideal denoiser is known in closed form (deterministic
/// samplers converge to the exact probability-flow endpoint as steps grow; stochastic ones reproduce the data's mean
/// and spread).
/// </summary>
/// <example>
/// <code>
/// public sealed class HeunConformance : SamplerConformanceTests
/// {
///     protected override ISampler CreateSampler(SchedulerConfig config) => new HeunSampler(config);
///     protected override SamplerKind Kind => SamplerKind.Deterministic;
/// }
/// </code>
/// </example>
/// <remarks>
/// The data is N(0.5, 0.2²) per element; noise comes from <see cref="TorchGaussianNoise"/> with fixed seeds, so every
/// result is reproducible. The defaults are strict: override a knob only where the method genuinely needs it, and say
/// why in a comment next to the number.
/// </remarks>
public abstract class SamplerConformanceTests
{
    private const int ContractSteps = 12;
    private const int DistributionSamples = 20_000;
    private const int ConvergenceSamples = 2_000;

    private SamplerKind? _observedKind;

    /// <summary>The data the kit samples: x₀ ~ N(0.5, 0.2²) per element.</summary>
    protected static GaussianData Data { get; } = new(0.5, 0.2);

    /// <summary>
    /// A new, independent instance of the sampler under test. <paramref name="config"/> is a fresh configuration
    /// with the default linear schedule, <c>clip_sample</c> off (clipping x̂₀ to [−1, 1] would change the exact
    /// answer) and the prediction type under test; adjust other keys as the sampler needs before creating it.
    /// </summary>
    protected abstract ISampler CreateSampler(SchedulerConfig config);

    /// <summary>
    /// Whether the sampler is deterministic or stochastic, which picks its exact-answer check. By default it is observed
    /// (whether a short run draws noise); declare it to have the kit check the sampler keeps to it.
    /// </summary>
    protected virtual SamplerKind Kind => _observedKind ??= ObserveKind();

    /// <summary>Deterministic samplers: the step counts at which the endpoint error must fall, ascending. Default 10, 20, 50.</summary>
    protected virtual IReadOnlyList<int> ConvergenceSteps { get; } = [10, 20, 50];

    /// <summary>Deterministic samplers: the largest endpoint error allowed at the last of <see cref="ConvergenceSteps"/>. Default 0.05.</summary>
    protected virtual double ConvergedError => 0.05;

    /// <summary>
    /// Deterministic samplers: the least observed order of convergence between successive step counts,
    /// log(e₁/e₂)/log(n₂/n₁). Default 0.75 (a first-order method, with room for the non-asymptotic regime).
    /// </summary>
    protected virtual double MinimumConvergenceOrder => 0.75;

    /// <summary>The step count of the wrapper checks (<see cref="EveryWrapperComposesAroundIt"/>). Default 20.</summary>
    protected virtual int WrapperSteps => 20;

    /// <summary>Stochastic samplers: the step count at which the data's mean and spread must be reproduced. Default 250.</summary>
    protected virtual int DistributionSteps => 250;

    /// <summary>Stochastic samplers: the largest relative error of the standard deviation. Default 0.03 (3 %).</summary>
    protected virtual double SpreadTolerance => 0.03;

    /// <summary>
    /// The network every check evaluates. Default: the data's ideal denoiser (<see cref="ClosedFormSampling.IdealDenoiser"/>),
    /// what a diffusion model approximates. A sampler for distilled models (consistency models) overrides it with the
    /// ideal network of that kind, and says so.
    /// </summary>
    protected virtual ClosedFormSampling.Network Network => ClosedFormSampling.IdealDenoiser;

    // ---- the sampler describes itself ---------------------------------------------------------------------------

    /// <summary>Name, order and initial noise are set; timesteps are empty until set; a σ table has one entry per timestep plus the final σ.</summary>
    [Test]
    public void TheSamplerDescribesItself()
    {
        var config = Config();
        var sampler = CreateSampler(config);
        Assert.That(sampler, Is.Not.Null, nameof(CreateSampler));
        var trainTimesteps = sampler.Config.NumTrainTimesteps;
        config.NumTrainTimesteps = trainTimesteps + 1;
        Assert.Multiple(() =>
        {
            Assert.That(sampler.Name, Is.Not.Null.And.Not.Empty.And.Not.Contain(" "), "a registered name");
            Assert.That(sampler.Config.NumTrainTimesteps, Is.EqualTo(trainTimesteps), "the sampler keeps its own copy of the configuration");
            Assert.That(sampler.Order, Is.GreaterThanOrEqualTo(1), "order");
            Assert.That(sampler.InitNoiseSigma, Is.Positive.And.Not.EqualTo(double.PositiveInfinity), "initial noise σ");
            Assert.That(sampler.Timesteps, Is.Empty, "no timesteps before SetTimesteps");
        });
        sampler.SetTimesteps(ContractSteps);
        Assert.Multiple(() =>
        {
            Assert.That(sampler.Timesteps, Is.Not.Empty.And.Ordered.Descending, "timesteps in the order they are visited");
            if (SamplerDecorator.Unwrap(sampler) is ISigmaSampler sigmas)
            {
                Assert.That(sigmas.Sigmas, Has.Count.EqualTo(sampler.Timesteps.Count + 1), "σ per timestep, then the final σ");
                Assert.That(sigmas.Sigmas[^1], Is.GreaterThanOrEqualTo(0), "final σ");
                Assert.That(sigmas.SigmaMin, Is.Positive.And.LessThan(sigmas.SigmaMax), "σ range of the training schedule");
            }
            if (SamplerDecorator.Unwrap(sampler) is IFlowMatchingSampler flow)
            {
                Assert.That(flow.Sigmas, Has.Count.EqualTo(sampler.Timesteps.Count + 1), "flow σ per timestep, then the final σ");
                Assert.That(flow.Sigmas, Is.All.InRange(0.0, 1.0), "flow σ lie in [0, 1]");
                Assert.That(sampler.InitNoiseSigma, Is.EqualTo(1), "a flow starts from the noise itself");
            }
        });
    }

    // ---- state and order ----------------------------------------------------------------------------------------

    /// <summary>SetTimesteps forgets a previous run, finished or abandoned half-way: the same seed gives the same bytes.</summary>
    [Test]
    public void SettingTimestepsAgainResetsAllState()
    {
        var sampler = NewSampler();
        var first = Run(sampler, seed: 5);
        var abandoned = new LoopState(Network, sampler, seed: 6);
        for (var k = 0; k < sampler.Timesteps.Count / 2 + 1 && !abandoned.Done; k++) abandoned.Advance();
        var second = Run(sampler, seed: 5);
        Assert.That(second, Is.EqualTo(first), "a run after a finished and an abandoned one gives the same bytes");
    }

    /// <summary>Two instances stepped alternately give each the bytes it gives alone.</summary>
    [Test]
    public void InterleavedRunsOnTwoInstancesDoNotDisturbEachOther()
    {
        var alone = Run(NewSampler(), seed: 9);
        var runA = new LoopState(Network, NewSampler(), seed: 9);
        var runB = new LoopState(Network, NewSampler(), seed: 11);
        while (!runA.Done)
        {
            runA.Advance();
            if (!runB.Done) runB.Advance();
        }
        Assert.That(runA.Sample, Is.EqualTo(alone));
    }

    /// <summary>A timestep the schedule does not list, or one that is not the next, is a <see cref="SamplerStateException"/>.</summary>
    [Test]
    public void AStepAtATimestepOutsideTheScheduleIsATypedError()
    {
        var sampler = NewSampler();
        sampler.SetTimesteps(ContractSteps);
        var x = new float[8];
        var outside = sampler.Timesteps[0] + 0.5;
        Assert.Throws<SamplerStateException>(() => sampler.Step(new StepInput(x, outside, x), new StepOutput(new float[8]), new TorchGaussianNoise(0)),
            $"timestep {outside.ToString(CultureInfo.InvariantCulture)} is not in the schedule");

        // Mid-run, only the next listed timestep is accepted.
        var state = new LoopState(Network, sampler, seed: 1);
        state.Advance();
        var next = sampler.Timesteps[1];
        var skipped = sampler.Timesteps.Last(t => t != next);
        Assert.Throws<SamplerStateException>(() => sampler.Step(new StepInput(state.Sample, skipped, state.Sample), new StepOutput(new float[state.Sample.Length]), new TorchGaussianNoise(0)),
            $"timestep {skipped.ToString(CultureInfo.InvariantCulture)} when {next.ToString(CultureInfo.InvariantCulture)} is next");
    }

    /// <summary>A step after the last one is a <see cref="SamplerStateException"/>.</summary>
    [Test]
    public void AStepAfterTheLastOneIsATypedError()
    {
        var sampler = NewSampler();
        var state = new LoopState(Network, sampler, seed: 1);
        while (!state.Done) state.Advance();
        var last = sampler.Timesteps[^1];
        Assert.Throws<SamplerStateException>(() => sampler.Step(new StepInput(state.Sample, last, state.Sample), new StepOutput(new float[state.Sample.Length]), new TorchGaussianNoise(0)));
    }

    /// <summary>A step before SetTimesteps is a <see cref="SamplerStateException"/>.</summary>
    [Test]
    public void AStepBeforeTimestepsAreSetIsATypedError()
    {
        var x = new float[8];
        Assert.Throws<SamplerStateException>(() => NewSampler().Step(new StepInput(x, 999, x), new StepOutput(new float[8]), new TorchGaussianNoise(0)));
    }

    // ---- buffers ------------------------------------------------------------------------------------------------

    /// <summary>Once warm (its scratch buffers exist at this size), a step allocates nothing, for every prediction type.</summary>
    [Test]
    public void AStepWithCallerBuffersAllocatesNothingOnceWarm([Values(PredictionType.Epsilon, PredictionType.Sample, PredictionType.VPrediction)] PredictionType prediction)
    {
        const int batch = 2, length = 2 * 4 * 8 * 8;
        var sampler = NewSampler(prediction);
        Run(sampler, seed: 2, batch, length);
        var state = new LoopState(Network, sampler, seed: 2, batch, length, inPlace: true);
        state.Advance(); // the first step may start a new history
        var before = GC.GetAllocatedBytesForCurrentThread();
        while (!state.Done) state.Advance();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.Zero, $"{sampler.Name} allocated {allocated} bytes over {sampler.Timesteps.Count - 1} steps");
    }

    /// <summary>The output may be the input sample's own memory: stepping in place gives the same bytes.</summary>
    [Test]
    public void AStepMayWriteItsResultOverTheInputSample()
    {
        var separate = Run(NewSampler(), seed: 13);
        var state = new LoopState(Network, NewSampler(), seed: 13, inPlace: true);
        while (!state.Done) state.Advance();
        Assert.That(state.Sample, Is.EqualTo(separate));
    }

    /// <summary>A deterministic sampler never calls its noise source; a stochastic one does.</summary>
    [Test]
    public void TheSamplerDrawsNoiseOnlyIfItIsStochastic()
    {
        var draws = CountDraws();
        if (Kind == SamplerKind.Deterministic)
            Assert.That(draws, Is.Zero, "a deterministic sampler never draws noise");
        else
            Assert.That(draws, Is.Positive, "a stochastic sampler draws noise");
    }

    // ---- prediction types and wrappers --------------------------------------------------------------------------

    /// <summary>ε-, x₀- and v-predicting networks all lead to the data (50 steps; mean within 0.03, spread within 25 %).</summary>
    [Test]
    public void EveryPredictionTypeSamplesTheData([Values(PredictionType.Epsilon, PredictionType.Sample, PredictionType.VPrediction)] PredictionType prediction)
    {
        var run = ClosedFormSampling.Sample(NewSampler(prediction), 50, Data, 4000, seed: 21, network: Network);
        var (mean, std) = ClosedFormSampling.Moments(run.Samples);
        Assert.Multiple(() =>
        {
            Assert.That(run.Samples, Is.All.Not.NaN);
            Assert.That(mean, Is.EqualTo(Data.Mean).Within(0.03), "mean");
            Assert.That(std, Is.EqualTo(Data.Std).Within(0.25 * Data.Std), "standard deviation");
        });
    }

    /// <summary>
    /// Each built-in wrapper, and all of them stacked, composes around the sampler and still samples the data. Karras
    /// spacing may be refused, but only with a <see cref="SchedulerConfigException"/> naming the sampler.
    /// </summary>
    [Test]
    public void EveryWrapperComposesAroundIt([Values("karras", "threshold-dynamic", "threshold-static", "temperature", "noise-injection", "all")] string wrapper)
    {
        var inner = NewSampler();
        ISampler wrapped = wrapper switch
        {
            "karras" => new KarrasSigmasWrapper(inner),
            "threshold-dynamic" => new ThresholdingWrapper(inner, ThresholdingMode.Dynamic),
            "threshold-static" => new ThresholdingWrapper(inner, ThresholdingMode.Static),
            "temperature" => new TemperatureWrapper(inner, 1.05),
            "noise-injection" => new NoiseInjectionWrapper(inner, 0.02),
            "all" => new TemperatureWrapper(new NoiseInjectionWrapper(new ThresholdingWrapper(new KarrasSigmasWrapper(inner), ThresholdingMode.Dynamic), 0.02), 1.05),
            _ => throw new ArgumentOutOfRangeException(nameof(wrapper), wrapper, "not a built-in wrapper"),
        };
        try
        {
            wrapped.SetTimesteps(WrapperSteps);
        }
        catch (SchedulerConfigException e) when (wrapper is "karras" or "all")
        {
            // A sampler that takes neither explicit σ nor explicit timesteps may refuse Karras spacing, but only by name.
            Assert.That(e.Message, Does.Contain($"'{inner.Name}'"));
            return;
        }
        var samples = ClosedFormSampling.Sample(wrapped, WrapperSteps, Data, 2000, seed: 4, network: Network).Samples;
        var (mean, std) = ClosedFormSampling.Moments(samples);
        Assert.Multiple(() =>
        {
            Assert.That(samples, Is.All.Not.NaN);
            Assert.That(mean, Is.EqualTo(Data.Mean).Within(0.05), "mean");
            Assert.That(std, Is.EqualTo(Data.Std).Within(0.1), "standard deviation");
        });
    }

    /// <summary>Temperature 1 and noise injection 0 leave the run untouched, to the byte.</summary>
    [Test]
    public void TemperatureOneAndInjectionZeroChangeNothing()
    {
        var plain = ClosedFormSampling.Sample(NewSampler(), 20, Data, 256, seed: 4, network: Network).Samples;
        Assert.That(ClosedFormSampling.Sample(new TemperatureWrapper(NewSampler(), 1.0), 20, Data, 256, seed: 4, network: Network).Samples, Is.EqualTo(plain), "temperature 1");
        Assert.That(ClosedFormSampling.Sample(new NoiseInjectionWrapper(NewSampler(), 0.0), 20, Data, 256, seed: 4, network: Network).Samples, Is.EqualTo(plain), "injection strength 0");
    }

    /// <summary>Dynamic thresholding sees every step's x̂₀ and keeps it in range, and the samples end near that range.</summary>
    [Test]
    public void DynamicThresholdingKeepsEveryPredictedSampleInRange()
    {
        // Wide data (s = 3) so that x₀ predictions exceed the range and the threshold bites.
        var wide = new GaussianData(0.0, 3.0);
        var wrapper = new ThresholdingWrapper(NewSampler(), ThresholdingMode.Dynamic, ratio: 0.9, maxValue: 2.0);
        var seen = 0;
        var worst = 0f;
        wrapper.PredictedOriginalLimited += (x0, _) =>
        {
            seen++;
            foreach (var v in x0) worst = Math.Max(worst, Math.Abs(v));
        };
        var samples = ClosedFormSampling.Sample(wrapper, 20, wide, 256, seed: 4, network: Network).Samples;
        Assert.Multiple(() =>
        {
            Assert.That(seen, Is.EqualTo(wrapper.Timesteps.Count), "every step's x₀ went through the threshold");
            Assert.That(worst, Is.LessThanOrEqualTo(1f), "clamp(x₀, −s, s)/s lies in [−1, 1]");
            Assert.That(samples, Is.All.Not.NaN);
            Assert.That(samples.Max(v => Math.Abs(v)), Is.LessThan(1.5f), "the samples themselves end near the limited range");
        });
    }

    // ---- exact answers ------------------------------------------------------------------------------------------

    /// <summary>
    /// Deterministic: the largest distance to the exact probability-flow endpoint (ᾱ = 1) falls at every step count of
    /// <see cref="ConvergenceSteps"/>, at least at <see cref="MinimumConvergenceOrder"/>, to below
    /// <see cref="ConvergedError"/> (2,000 samples). Stochastic: 20,000 samples in <see cref="DistributionSteps"/>
    /// steps have the data's mean within 4 standard errors and its standard deviation within <see cref="SpreadTolerance"/>.
    /// </summary>
    [Test]
    public void ReachesTheExactAnswerOnGaussianData()
    {
        if (Kind == SamplerKind.Deterministic) AssertConvergence();
        else AssertDistribution();
    }

    private void AssertConvergence()
    {
        var steps = ConvergenceSteps;
        Assert.That(steps, Has.Count.GreaterThanOrEqualTo(2).And.Ordered.Ascending, nameof(ConvergenceSteps));
        var errors = steps.Select(n => ClosedFormSampling.EndpointError(ClosedFormSampling.Sample(NewSampler(), n, Data, ConvergenceSamples, seed: 7, network: Network), Data)).ToArray();
        var orders = Enumerable.Range(1, errors.Length - 1).Select(i => Math.Log(errors[i - 1] / errors[i]) / Math.Log((double)steps[i] / steps[i - 1])).ToArray();
        var name = NewSampler().Name;
        TestContext.Out.WriteLine($"{name}: max endpoint error at {string.Join("/", steps)} steps: {string.Join(" / ", errors.Select(e => e.ToString("E2", CultureInfo.InvariantCulture)))}" +
            $"; observed order {string.Join(", ", orders.Select(p => p.ToString("F2", CultureInfo.InvariantCulture)))}");
        Assert.Multiple(() =>
        {
            for (var i = 1; i < errors.Length; i++)
            {
                Assert.That(errors[i], Is.LessThan(errors[i - 1]), $"{steps[i - 1]} → {steps[i]} steps");
                Assert.That(orders[i - 1], Is.GreaterThanOrEqualTo(MinimumConvergenceOrder), $"order of convergence {steps[i - 1]} → {steps[i]} steps");
            }
            Assert.That(errors[^1], Is.LessThan(ConvergedError), $"error at {steps[^1]} steps");
        });
    }

    private void AssertDistribution()
    {
        var sampler = NewSampler();
        var run = ClosedFormSampling.Sample(sampler, DistributionSteps, Data, DistributionSamples, seed: 1234, network: Network);
        var (mean, std) = ClosedFormSampling.Moments(run.Samples);
        var standardError = Data.Std / Math.Sqrt(DistributionSamples);
        TestContext.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{sampler.Name}, {DistributionSteps} steps: mean {mean:F5} ({(mean - Data.Mean) / standardError:F2} SE), std {std:F5} ({std / Data.Std - 1:P2})"));
        Assert.Multiple(() =>
        {
            Assert.That(Math.Abs(mean - Data.Mean), Is.LessThan(4 * standardError), $"mean {mean:F5} vs {Data.Mean}");
            Assert.That(Math.Abs(std / Data.Std - 1), Is.LessThan(SpreadTolerance), $"std {std:F5} vs {Data.Std}");
        });
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    // The exact answers assume a schedule whose last step is nearly pure noise: the common linear one (ᾱ_T ≈ 4e-5), named
    // so that a sampler whose reference class defaults to another (Heun, KDPM2, LCM, TCD: the Stable Diffusion schedule,
    // ᾱ_T ≈ 0.0047) is checked on it too.
    private static SchedulerConfig Config(PredictionType prediction = PredictionType.Epsilon) =>
        new() { ClipSample = false, PredictionType = prediction, BetaStart = 0.0001, BetaEnd = 0.02, BetaSchedule = BetaSchedule.Linear };

    private ISampler NewSampler(PredictionType prediction = PredictionType.Epsilon) =>
        CreateSampler(Config(prediction)) ?? throw new InvalidOperationException($"{GetType().Name}.{nameof(CreateSampler)} returned null.");

    private SamplerKind ObserveKind() => CountDraws() > 0 ? SamplerKind.Stochastic : SamplerKind.Deterministic;

    private int CountDraws()
    {
        var noise = new CountingNoise(new TorchGaussianNoise(3));
        var state = new LoopState(Network, NewSampler(), seed: 3, noise: noise);
        var before = noise.Draws; // drawing x_T is the loop's, not the sampler's
        while (!state.Done) state.Advance();
        return noise.Draws - before;
    }

    private float[] Run(ISampler sampler, ulong seed, int batch = 4, int length = 4 * 3 * 2 * 2)
    {
        var state = new LoopState(Network, sampler, seed, batch, length);
        while (!state.Done) state.Advance();
        return state.Sample;
    }

    /// <summary>One sampling run advanced a step at a time with the exact Gaussian denoiser and buffers made up front.</summary>
    private sealed class LoopState
    {
        private readonly ISampler _sampler;
        private readonly ClosedFormSampling.Network _network;
        private readonly INoiseSource _noise;
        private readonly int _batch;
        private readonly bool _inPlace;
        private readonly float[] _input, _output;
        private float[] _x, _next;
        private int _k;

        public LoopState(ClosedFormSampling.Network network, ISampler sampler, ulong seed, int batch = 4, int length = 4 * 3 * 2 * 2, bool inPlace = false, INoiseSource? noise = null)
        {
            _sampler = sampler;
            _network = network;
            _batch = batch;
            _inPlace = inPlace;
            sampler.SetTimesteps(ContractSteps);
            _noise = noise ?? new TorchGaussianNoise(seed);
            _x = new float[length];
            _noise.NextGaussian(_x);
            for (var i = 0; i < length; i++) _x[i] *= (float)sampler.InitNoiseSigma;
            (_next, _input, _output) = (new float[length], new float[length], new float[length]);
        }

        public bool Done => _k >= _sampler.Timesteps.Count;

        public float[] Sample => _x;

        public void Advance()
        {
            var t = _sampler.Timesteps[_k];
            _sampler.ScaleModelInput(_x, t, _input);
            _network(Data, _sampler, _k, t, _input, _output);
            _sampler.Step(new StepInput(_output, t, _x, _batch), new StepOutput(_inPlace ? _x : _next), _noise);
            if (!_inPlace) (_x, _next) = (_next, _x);
            _k++;
        }
    }

    private sealed class CountingNoise(INoiseSource inner) : INoiseSource
    {
        public int Draws { get; private set; }

        public void NextGaussian(Span<float> destination)
        {
            Draws++;
            inner.NextGaussian(destination);
        }
    }
}
