using Diffusion.Configuration;
using Diffusion.Noise;
using Diffusion.Scheduling;
using Diffusion.Tests.Support;

namespace Diffusion.Tests.Conformance;

/// <summary>
/// The contract every sampler keeps, checked the same way for each registered one (plugins included), with no
/// per-sampler cases: resetting, order errors, isolation between instances, all prediction types, and steps that
/// allocate nothing once warm.
/// </summary>
[TestFixture]
public sealed class SamplerContractTests
{
    private const int Steps = 12;
    private static readonly GaussianData Data = new(0.5, 0.2);

    public static IEnumerable<string> Samplers() => TestHost.Factory.Names;

    private static IScheduler Create(string name, PredictionType prediction = PredictionType.Epsilon) =>
        TestHost.Factory.Create(name, new SchedulerConfig { ClipSample = false, PredictionType = prediction, Eta = 1.0 });

    [TestCaseSource(nameof(Samplers))]
    public void SettingTimestepsAgainResetsAllState(string name)
    {
        var sampler = Create(name);
        var first = Run(sampler, seed: 5);
        var second = Run(sampler, seed: 5);
        Assert.That(second, Is.EqualTo(first), "a second run on the same instance gives the same bytes");
    }

    [TestCaseSource(nameof(Samplers))]
    public void InterleavedRunsOnTwoInstancesDoNotDisturbEachOther(string name)
    {
        var alone = Run(Create(name), seed: 9);
        var (a, b) = (Create(name), Create(name));
        var runA = new LoopState(a, seed: 9);
        var runB = new LoopState(b, seed: 11);
        while (!runA.Done)
        {
            runA.Advance();
            if (!runB.Done) runB.Advance();
        }
        Assert.That(runA.Sample, Is.EqualTo(alone));
    }

    [TestCaseSource(nameof(Samplers))]
    public void AStepAtATimestepOutsideTheScheduleIsATypedError(string name)
    {
        var sampler = Create(name);
        sampler.SetTimesteps(Steps);
        var x = new float[8];
        var outside = sampler.Timesteps[0] + 0.5;
        Assert.Throws<SchedulerStateException>(() => sampler.Step(new StepInput(x, outside, x), new StepOutput(new float[8]), new TorchGaussianNoise(0)));
    }

    [TestCaseSource(nameof(Samplers))]
    public void AStepAfterTheLastOneIsATypedError(string name)
    {
        var sampler = Create(name);
        var state = new LoopState(sampler, seed: 1);
        while (!state.Done) state.Advance();
        var last = sampler.Timesteps[^1];
        Assert.Throws<SchedulerStateException>(() => sampler.Step(new StepInput(state.Sample, last, state.Sample), new StepOutput(new float[state.Sample.Length]), new TorchGaussianNoise(0)));
    }

    [TestCaseSource(nameof(Samplers))]
    public void AStepBeforeTimestepsAreSetIsATypedError(string name)
    {
        var x = new float[8];
        Assert.Throws<SchedulerStateException>(() => Create(name).Step(new StepInput(x, 999, x), new StepOutput(new float[8]), new TorchGaussianNoise(0)));
    }

    [Test, Combinatorial]
    public void EveryPredictionTypeSamplesTheData(
        [ValueSource(nameof(Samplers))] string name,
        [Values(PredictionType.Epsilon, PredictionType.Sample, PredictionType.VPrediction)] PredictionType prediction)
    {
        var run = ClosedFormSampling.Sample(Create(name, prediction), 50, Data, 4000, seed: 21);
        var (mean, std) = ClosedFormSampling.Moments(run.Samples);
        Assert.Multiple(() =>
        {
            Assert.That(run.Samples, Is.All.Not.NaN);
            Assert.That(mean, Is.EqualTo(Data.Mean).Within(0.03), "mean");
            Assert.That(std, Is.EqualTo(Data.Std).Within(0.25 * Data.Std), "standard deviation");
        });
    }

    [TestCaseSource(nameof(Samplers))]
    public void AStepWithCallerBuffersAllocatesNothingOnceWarm(string name)
    {
        var sampler = Create(name);
        Run(sampler, seed: 2, batch: 2, length: 2 * 4 * 8 * 8); // warm: scratch buffers now exist at this size
        var state = new LoopState(sampler, seed: 2, batch: 2, length: 2 * 4 * 8 * 8);
        state.Advance(); // the first step may start a new history
        var before = GC.GetAllocatedBytesForCurrentThread();
        while (!state.Done) state.Advance();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.Zero, $"{name} allocated {allocated} bytes over {sampler.Timesteps.Count - 1} steps");
    }

    private static float[] Run(IScheduler sampler, ulong seed, int batch = 4, int length = 4 * 3 * 2 * 2)
    {
        var state = new LoopState(sampler, seed, batch, length);
        while (!state.Done) state.Advance();
        return state.Sample;
    }

    /// <summary>One sampling run advanced a step at a time, with the exact Gaussian denoiser and buffers made up front.</summary>
    private sealed class LoopState
    {
        private readonly IScheduler _sampler;
        private readonly TorchGaussianNoise _noise;
        private readonly int _batch;
        private float[] _x, _next;
        private readonly float[] _input, _output;
        private int _k;

        public LoopState(IScheduler sampler, ulong seed, int batch = 4, int length = 4 * 3 * 2 * 2)
        {
            _sampler = sampler;
            _batch = batch;
            sampler.SetTimesteps(Steps);
            _noise = new TorchGaussianNoise(seed);
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
            Data.Predict(_sampler.Config.PredictionType, _input, ClosedFormSampling.AlphaBarAt(_sampler, _k, t), _output);
            _sampler.Step(new StepInput(_output, t, _x, _batch), new StepOutput(_next), _noise);
            (_x, _next) = (_next, _x);
            _k++;
        }
    }
}
