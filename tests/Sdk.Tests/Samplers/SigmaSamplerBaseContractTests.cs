using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// What <see cref="SigmaSamplerBase"/> promises the samplers built on it, seen through a probe sampler that records
/// every <see cref="SigmaStep"/> it is given: the σ table of one- and two-evaluation samplers (which intervals get a
/// second evaluation and with which arguments), the σ each timestep takes in <c>ScaleModelInput</c> and
/// <c>AddNoise</c>, a run that starts on a second evaluation, the history ring, and the refusals (with their texts).
/// Expected values are worked out here from the σ list the test installs, not read back from the sampler.
/// </summary>
[TestFixture]
public sealed class SigmaSamplerBaseContractTests
{
    private const int N = 4;

    private readonly record struct Seen(int CallIndex, int Interval, bool Second, float Sigma, float From, float To, float SecondSigma, float[] Start, float[] Denoised);

    /// <summary>A sampler on the base whose update copies the sample and records what the base handed it.</summary>
    private sealed class Probe(SchedulerConfig config, bool twoEvaluations = false, bool sigmaSpacings = true, bool placesSecond = true, int history = 0,
        double finalSigma = 0, bool fromEpsilon = false, bool clip = false, string name = "probe")
        : SigmaSamplerBase(name, config, twoEvaluations, sigmaSpacings, clip)
    {
        public List<Seen> Steps { get; } = [];
        public List<(int Interval, float Sigma, float SigmaNext, double NextTimestep)> SecondCalls { get; } = [];

        protected override double FinalSigma => finalSigma;
        protected override int HistoryCapacity => history;
        protected override bool AdvancesFromEpsilon => fromEpsilon;

        // The second evaluation at the geometric mean of the interval's ends, at a timestep no other call uses.
        protected override (double Sigma, double Timestep) SecondEvaluation(int interval, float sigma, float sigmaNext, double nextTimestep)
        {
            if (!placesSecond) return base.SecondEvaluation(interval, sigma, sigmaNext, nextTimestep);
            SecondCalls.Add((interval, sigma, sigmaNext, nextTimestep));
            return (Math.Sqrt(sigma * (double)sigmaNext), 100.5 + interval);
        }

        protected override void Advance(in SigmaStep step, INoiseSource noise)
        {
            Steps.Add(new Seen(step.CallIndex, step.Interval, step.IsSecondEvaluation, step.Sigma, step.SigmaFrom, step.SigmaTo, step.SecondSigma,
                step.IntervalStart.ToArray(), step.Denoised.ToArray()));
            step.Sample.CopyTo(step.Destination);
        }

        public Span<float> Push(int length) => PushHistory(length);
        public Span<float> Past(int age, int length) => History(age, length);
        public int Held => HistoryCount;
        public static double[] Round(double[] values) => ToFloat32(values);
        public void Replace(double[] timesteps) => ReplaceTimesteps(timesteps);
    }

    private static float[] Values(float scale) => Enumerable.Range(0, N).Select(i => MathF.Sin(i + 1) * scale).ToArray();

    private static (bool Wrote, float[] Prev, float[] X0) Step(ISampler sampler, double t, bool withX0 = false, float[]? output = null)
    {
        var prev = new float[N];
        var x0 = withX0 ? new float[N] : [];
        var wrote = sampler.Step(new StepInput(output ?? Values(0.25f), t, Values(2), 1), new StepOutput(prev, x0), new TorchGaussianNoise(1));
        return (wrote, prev, x0);
    }

    // σ_t of the default linear schedule at an integer timestep, in double: β linear in [1e-4, 0.02] over 1000 steps.
    private static double TrainingSigma(int t)
    {
        var alphaBar = 1.0;
        for (var i = 0; i <= t; i++) alphaBar *= 1 - (0.0001 + (0.02 - 0.0001) * i / 999);
        return Math.Sqrt((1 - alphaBar) / alphaBar);
    }

    [Test]
    public void OneEvaluationSamplersSeeEachIntervalOnceWithNoStartAndNoSecondSigma()
    {
        var probe = new Probe(new SchedulerConfig());
        probe.SetSigmas([10, 5, 2]);
        Assert.That(probe.Sigmas, Is.EqualTo(new double[] { 10, 5, 2, 0 }));
        Assert.That(probe.IntervalSigmas, Is.EqualTo(new double[] { 10, 5, 2, 0 }));
        Assert.That(probe.Timesteps, Has.Count.EqualTo(3));
        for (var i = 0; i < 3; i++)
        {
            var (wrote, prev, x0) = Step(probe, probe.Timesteps[i], withX0: i == 1);
            Assert.That(wrote, Is.EqualTo(i == 1), "Step says whether it wrote x̂₀: only when a buffer was passed");
            Assert.That(prev, Is.EqualTo(Values(2)));
            if (i == 1)
            {
                var eps = Values(0.25f);
                var sample = Values(2);
                Assert.That(x0, Is.EqualTo(Enumerable.Range(0, N).Select(k => eps[k] * -5f + sample[k]).ToArray()), "ε → x̂₀ = ε·(−σ) + x");
            }
        }
        Assert.That(probe.SecondCalls, Is.Empty);
        Assert.Multiple(() =>
        {
            for (var i = 0; i < 3; i++)
            {
                var s = probe.Steps[i];
                Assert.That((s.CallIndex, s.Interval, s.Second, s.Sigma, s.From, s.To), Is.EqualTo((i, i, false, (float)probe.Sigmas[i], (float)probe.Sigmas[i], (float)probe.Sigmas[i + 1])));
                Assert.That(float.IsNaN(s.SecondSigma), $"step {i}: a one-evaluation interval has no second σ");
                Assert.That(s.Start, Is.Empty, $"step {i}: no interval start is kept");
            }
        });
    }

    [Test]
    public void TwoEvaluationSamplersGetASecondCallOnEveryIntervalThatDoesNotEndAtZero()
    {
        var probe = new Probe(new SchedulerConfig(), twoEvaluations: true);
        probe.SetSigmas([10, 5, 2]);
        var t = probe.Timesteps;
        Assert.That(probe.SecondCalls, Has.Count.EqualTo(2), "intervals 10→5 and 5→2; 2→0 is one evaluation");
        Assert.That(probe.SecondCalls[0], Is.EqualTo((0, 10f, 5f, t[2])), "the next interval's timestep comes with the ends");
        Assert.That(probe.SecondCalls[1], Is.EqualTo((1, 5f, 2f, t[4])));
        Assert.That(t, Has.Count.EqualTo(5));
        Assert.That((t[1], t[3]), Is.EqualTo((100.5, 101.5)));
        double s0 = (float)Math.Sqrt(50), s1 = (float)Math.Sqrt(10);
        Assert.That(probe.Sigmas, Is.EqualTo(new[] { 10, s0, 5, s1, 2, 0 }));
        Assert.That(probe.IntervalSigmas, Is.EqualTo(new double[] { 10, 5, 2, 0 }));

        for (var i = 0; i < 5; i++) Step(probe, t[i]);
        var expected = new (int Interval, bool Second, double Sigma, float To, double SecondSigma)[]
        {
            (0, false, 10, 5, s0), (0, true, s0, 5, s0), (1, false, 5, 2, s1), (1, true, s1, 2, s1), (2, false, 2, 0, double.NaN),
        };
        Assert.Multiple(() =>
        {
            for (var i = 0; i < 5; i++)
            {
                var s = probe.Steps[i];
                var e = expected[i];
                Assert.That((s.CallIndex, s.Interval, s.Second, s.Sigma, s.To), Is.EqualTo((i, e.Interval, e.Second, (float)e.Sigma, e.To)), $"call {i}");
                Assert.That(s.SecondSigma, Is.EqualTo((float)e.SecondSigma), $"call {i}: second σ");
                Assert.That(s.Start, i < 4 ? Is.EqualTo(Values(2)) : Is.Empty, $"call {i}: interval start");
            }
        });
    }

    [Test]
    public void AFinalSigmaAboveZeroGivesTheLastIntervalASecondCallWithNoNextTimestep()
    {
        var probe = new Probe(new SchedulerConfig(), twoEvaluations: true, finalSigma: 1);
        probe.SetSigmas([10, 4]);
        Assert.That(probe.SecondCalls, Has.Count.EqualTo(2));
        Assert.That(probe.SecondCalls[1].Interval, Is.EqualTo(1));
        Assert.That(double.IsNaN(probe.SecondCalls[1].NextTimestep), "no timestep follows the last listed one");
        Assert.That(probe.Sigmas, Is.EqualTo(new double[] { 10, (float)Math.Sqrt(40), 4, 2, 1 }));
    }

    [Test]
    public void ARunThatStartsOnASecondEvaluationLeavesTheSampleWhereItIs()
    {
        var probe = new Probe(new SchedulerConfig(), twoEvaluations: true);
        probe.SetSigmas([10, 5, 2]);
        probe.SetBeginIndex(3); // the second evaluation of 5 → 2: the sample is already at σ = 2
        var (wrote, prev, x0) = Step(probe, probe.Timesteps[3], withX0: true);
        Assert.That(probe.Steps, Is.Empty, "no first evaluation to complete: the update is not called");
        Assert.That(prev, Is.EqualTo(Values(2)));
        Assert.That(wrote, Is.True, "x̂₀ was written to the caller's buffer");
        Assert.That(x0, Is.Not.All.EqualTo(0f));
        var (wroteNone, _, _) = Step(probe, probe.Timesteps[4]);
        Assert.That(wroteNone, Is.False);
        Assert.That(probe.Steps.Single().Interval, Is.EqualTo(2), "the run continues with the next interval");

        // A run that opened interval 1 and is then replaced: the new run starting on interval 1's second
        // evaluation has no first one either (the open interval is reset with the schedule).
        probe.SetSigmas([10, 5, 2]);
        for (var i = 0; i < 3; i++) Step(probe, probe.Timesteps[i]);
        probe.SetSigmas([10, 5, 2]);
        probe.SetBeginIndex(3);
        var before = probe.Steps.Count;
        var (wroteAgain, prevAgain, _) = Step(probe, probe.Timesteps[3]);
        Assert.That((wroteAgain, probe.Steps.Count), Is.EqualTo((false, before)));
        Assert.That(prevAgain, Is.EqualTo(Values(2)));
    }

    [Test]
    public void ScaleModelInputAndAddNoiseUseTheSigmaOfTheTimestepsPosition()
    {
        var probe = new Probe(new SchedulerConfig(), twoEvaluations: true);
        probe.SetSigmas([10, 5, 2]);
        var t = probe.Timesteps;
        var x = Values(3);
        var scaled = new float[N];
        foreach (var (timestep, sigma) in new[] { (t[0], 10f), (t[2], 5f), (t[1], (float)Math.Sqrt(50)), (t[4], 2f) })
        {
            probe.ScaleModelInput(x, timestep, scaled);
            Assert.That(scaled, Is.EqualTo(x.Select(v => v / MathF.Sqrt(sigma * sigma + 1)).ToArray()), $"timestep {timestep}: σ = {sigma}");
        }

        var noise = Values(1);
        var noised = new float[N];
        // A first evaluation noises to σ_i, a second to σ_{i+1} (where its interval ends); other timesteps to σ_t.
        foreach (var (timestep, sigma) in new[] { (t[0], 10.0), (t[1], 5.0), (t[2], 5.0), (t[3], 2.0), (t[4], 2.0) })
        {
            probe.AddNoise(x, noise, [timestep], noised);
            Assert.That(noised, Is.EqualTo(Enumerable.Range(0, N).Select(k => noise[k] * (float)sigma + x[k]).ToArray()), $"timestep {timestep}");
        }
        probe.AddNoise(x, noise, [500], noised);
        var expected500 = TrainingSigma(500);
        for (var k = 0; k < N; k++) Assert.That(noised[k], Is.EqualTo(x[k] + expected500 * noise[k]).Within(1e-4 * expected500), "an unlisted timestep takes σ_t of the training table");

        foreach (var bad in new[] { 1000, -0.5 })
        {
            var e = Assert.Throws<SamplerStateException>(() => probe.AddNoise(x, noise, [bad], noised))!;
            Assert.That(e.Message, Is.EqualTo($"Timestep {bad.ToString(System.Globalization.CultureInfo.InvariantCulture)} is neither in the 'probe' sampler's schedule nor in [0, 999]."));
            Assert.Throws<SamplerStateException>(() => probe.ScaleModelInput(x, bad, scaled));
        }
    }

    [Test]
    public void ThePredictionTypeDecidesXZeroAndAnUndefinedOneIsRefused()
    {
        var output = Values(0.25f);
        var sample = Values(2);
        foreach (var (type, expected) in new (PredictionType, Func<int, float>)[]
        {
            (PredictionType.Sample, k => output[k]),
            (PredictionType.VPrediction, k => output[k] * (-5f / MathF.Sqrt(26f)) + sample[k] / 26f),
        })
        {
            var probe = new Probe(new SchedulerConfig { PredictionType = type });
            probe.SetSigmas([5]);
            var (_, _, x0) = Step(probe, probe.Timesteps[0], withX0: true, output: output);
            Assert.That(x0, Is.EqualTo(Enumerable.Range(0, N).Select(expected).ToArray()), type.ToString());
        }
        var clipped = new Probe(new SchedulerConfig { PredictionType = PredictionType.Sample, ClipSample = true, ClipSampleRange = 0.5 }, clip: true);
        clipped.SetSigmas([5]);
        var big = Values(2);
        Step(clipped, clipped.Timesteps[0], output: big);
        Assert.That(clipped.Steps[0].Denoised, Is.EqualTo(big.Select(v => Math.Clamp(v, -0.5f, 0.5f)).ToArray()));

        var undefined = new Probe(new SchedulerConfig { PredictionType = (PredictionType)42 });
        undefined.SetSigmas([5]);
        var e = Assert.Throws<InvalidOperationException>(() => Step(undefined, undefined.Timesteps[0]))!;
        Assert.That(e.Message, Is.EqualTo("Prediction type 42 is not defined."));
    }

    [Test]
    public void AnEpsilonSamplerSkipsXZeroOnlyWhenNobodyNeedsIt()
    {
        var direct = new Probe(new SchedulerConfig(), fromEpsilon: true);
        direct.SetSigmas([5, 1]);
        Step(direct, direct.Timesteps[0]);
        var (_, _, x0) = Step(direct, direct.Timesteps[1], withX0: true);
        Assert.That(direct.Steps[0].Denoised, Is.Empty, "ε model, no x̂₀ asked for: the update forms it");
        Assert.That(direct.Steps[1].Denoised, Is.EqualTo(x0).And.Not.Empty, "the caller asked for x̂₀: it is formed and passed");

        var sample = new Probe(new SchedulerConfig { PredictionType = PredictionType.Sample }, fromEpsilon: true);
        sample.SetSigmas([5]);
        Step(sample, sample.Timesteps[0]);
        Assert.That(sample.Steps[0].Denoised, Is.EqualTo(Values(0.25f)), "not an ε model: x̂₀ as usual");

        var clipped = new Probe(new SchedulerConfig { ClipSample = true }, fromEpsilon: true, clip: true);
        clipped.SetSigmas([5]);
        Step(clipped, clipped.Timesteps[0]);
        Assert.That(clipped.Steps[0].Denoised, Has.Length.EqualTo(N), "clipping needs the x̂₀ tensor");
    }

    [Test]
    public void TheHistoryRingKeepsTheNewestEntriesUpToItsCapacity()
    {
        var probe = new Probe(new SchedulerConfig(), history: 3);
        probe.SetSigmas([5]);
        var none = Assert.Throws<ArgumentOutOfRangeException>(() => probe.Past(0, N))!;
        Assert.That(none.ParamName, Is.EqualTo("age"));
        Assert.That(none.Message, Does.StartWith("The history holds 0 entries."));
        for (var v = 1; v <= 4; v++)
        {
            probe.Push(N).Fill(v);
            Assert.That(probe.Held, Is.EqualTo(Math.Min(v, 3)), $"after {v} pushes");
        }
        Assert.That(new[] { probe.Past(0, N)[0], probe.Past(1, N)[0], probe.Past(2, N)[0] }, Is.EqualTo(new float[] { 4, 3, 2 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => probe.Past(3, N));
        Assert.Throws<ArgumentOutOfRangeException>(() => probe.Past(-1, N));
        probe.SetSigmas([5]);
        Assert.That(probe.Held, Is.Zero, "a new schedule starts an empty history");

        var keepsNone = new Probe(new SchedulerConfig());
        var e = Assert.Throws<InvalidOperationException>(() => keepsNone.Push(N))!;
        Assert.That(e.Message, Is.EqualTo("The 'probe' sampler keeps no history (HistoryCapacity is 0)."));
    }

    [Test]
    public void ATwoEvaluationSamplerMustPlaceItsSecondEvaluation()
    {
        var probe = new Probe(new SchedulerConfig(), twoEvaluations: true, placesSecond: false, name: "half-heun");
        var e = Assert.Throws<NotSupportedException>(() => probe.SetSigmas([10, 5]))!;
        Assert.That(e.Message, Is.EqualTo("The 'half-heun' sampler takes two evaluations per interval and must say where the second one is."));
        Assert.DoesNotThrow(() => probe.SetSigmas([10]), "one interval to σ = 0 needs no second evaluation");
    }

    [Test]
    public void SigmaSpacingsApplyOnlyToSamplersThatHaveThem()
    {
        var karras = new SchedulerConfig { UseKarrasSigmas = true };
        var with = new Probe(karras);
        var without = new Probe(karras, sigmaSpacings: false);
        Assert.That((with.SigmaSpacing, with.AcceptsExplicitTimesteps), Is.EqualTo((SigmaSpacing.Karras, false)));
        Assert.That((without.SigmaSpacing, without.AcceptsExplicitTimesteps), Is.EqualTo((SigmaSpacing.Timesteps, true)));
        var refused = Assert.Throws<SchedulerConfigException>(() => with.SetTimesteps([999.0, 500]))!;
        Assert.That((refused.Key, refused.Value, refused.Allowed),
            Is.EqualTo(("timesteps", "an explicit list", "a step count: the 'probe' sampler cannot run on an explicit timestep list")));
        without.SetTimesteps(3);
        Assert.That(without.Timesteps, Is.EqualTo(new double[] { 999, 499.5, 0 }), "linspace timesteps, not Karras ones");
    }

    [Test]
    public void ASigmaRangeThatLeavesNoRoomIsRefusedWithTheKeyAtFault()
    {
        var table = new Probe(new SchedulerConfig());
        Assert.That(table.SigmaMin, Is.EqualTo(TrainingSigma(0)).Within(1e-4 * TrainingSigma(0)));
        Assert.That(table.SigmaMax, Is.EqualTo(TrainingSigma(999)).Within(1e-4 * TrainingSigma(999)));
        var span = string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"this schedule's noise levels span [{table.SigmaMin:0.####}, {table.SigmaMax:0.####}]");
        var high = Assert.Throws<SchedulerConfigException>(() => new Probe(new SchedulerConfig { UseKarrasSigmas = true, SigmaMin = 200 }).SetTimesteps(5))!;
        Assert.That((high.Key, high.Value, high.Allowed), Is.EqualTo(("sigma_min", "200", $"a value that keeps 0 < sigma_min < sigma_max ({span})")));
        var low = Assert.Throws<SchedulerConfigException>(() => new Probe(new SchedulerConfig { UseExponentialSigmas = true, SigmaMax = 0.005 }).SetTimesteps(5))!;
        Assert.That((low.Key, low.Value, low.Allowed), Is.EqualTo(("sigma_max", "0.005", $"a value that keeps 0 < sigma_min < sigma_max ({span})")));
        var equal = Assert.Throws<SchedulerConfigException>(() => new Probe(new SchedulerConfig { UseBetaSigmas = true, SigmaMin = table.SigmaMax }).SetTimesteps(5))!;
        Assert.That(equal.Key, Is.EqualTo("sigma_min"), "sigma_min equal to the schedule's σ_max leaves no range");
        var ok = new Probe(new SchedulerConfig { UseKarrasSigmas = true, SigmaMin = 0.5, SigmaMax = 20 });
        ok.SetTimesteps(3);
        Assert.That(ok.Sigmas, Is.EqualTo(new double[] { 20, (float)Math.Pow((Math.Pow(20, 1 / 7.0) + Math.Pow(0.5, 1 / 7.0)) / 2, 7), 0.5, 0 }).Within(1e-5));
    }

    [Test]
    public void TheBaseHelpersRefuseMisuse()
    {
        Assert.Throws<ArgumentNullException>(() => Probe.Round(null!));
        Assert.That(Probe.Round([0.1, 1e-50]), Is.EqualTo(new double[] { (float)0.1, 0 }));
        Assert.Throws<ArgumentException>(() => new Probe(new SchedulerConfig(), name: " "));
        Assert.Throws<ArgumentNullException>(() => new Probe(null!));
        var probe = new Probe(new SchedulerConfig());
        Assert.Throws<ArgumentNullException>(() => probe.Replace(null!));
        var empty = Assert.Throws<ArgumentException>(() => probe.Replace([]))!;
        Assert.That((empty.ParamName, empty.Message), Is.EqualTo(("timesteps", "A schedule needs at least one timestep. (Parameter 'timesteps')")));
    }
}
