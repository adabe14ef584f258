using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// The update helpers <see cref="SigmaSamplerBase"/> gives its samplers (Euler and slope steps, from x̂₀ or from ε,
/// with and without noise), each against its formula evaluated here in the same float32 order; the training table
/// kept for the last schedule (never handed to another schedule); the σ of a timestep listed twice; the history's
/// allocation on its first push only; and the ends of the training range for unlisted timesteps.
/// </summary>
[TestFixture]
public sealed class SigmaSamplerBaseHelperTests
{
    private const int N = 37; // more than one vector of any width, with a tail

    private sealed class Probe(SchedulerConfig config, bool twoEvaluations = false, bool secondOnOwnTimestep = false, int history = 0)
        : SigmaSamplerBase("helper-probe", config, twoEvaluations)
    {
        private double[] _explicit = [];

        protected override int HistoryCapacity => history;

        protected override double[] TimestepsOfExplicitSigmas(double[] sigmas) => _explicit = base.TimestepsOfExplicitSigmas(sigmas);

        protected override (double Sigma, double Timestep) SecondEvaluation(int interval, float sigma, float sigmaNext, double nextTimestep) =>
            (Math.Sqrt(sigma * (double)sigmaNext), secondOnOwnTimestep ? _explicit[interval] : 100.5 + interval);

        protected override void Advance(in SigmaStep step, INoiseSource noise) => step.Sample.CopyTo(step.Destination);

        public Span<float> Push(int length) => PushHistory(length);

        public static void Euler(float[] x, float[] x0, float sigma, float target, float[] d) => EulerStep(x, x0, sigma, target, d);
        public static void Euler(float[] x, float[] x0, float sigma, float target, float[] z, float scale, float[] d) => EulerStep(x, x0, sigma, target, z, scale, d);
        public void Euler(float[] x, float[] x0, float sigma, float target, INoiseSource noise, float scale, float[] d) => EulerStep(x, x0, sigma, target, noise, scale, 3, d);
        public static void EulerEps(float[] x, float[] eps, float sigma, float target, float[] d) => EulerStepFromEpsilon(x, eps, sigma, target, d);
        public void EulerEps(float[] x, float[] eps, float sigma, float target, INoiseSource noise, float scale, float[] d) =>
            EulerStepFromEpsilon(x, eps, sigma, target, noise, scale, 3, d);
        public static void SlopeFrom(float[] start, float[] x, float[] x0, float sigma, float step, float[] d) => SlopeStep(start, x, x0, sigma, step, d);
        public static void SlopeFrom(float[] start, float[] x, float[] x0, float sigma, float step, float[] z, float scale, float[] d) =>
            SlopeStep(start, x, x0, sigma, step, z, scale, d);
        public void SlopeFrom(float[] start, float[] x, float[] x0, float sigma, float step, INoiseSource noise, float scale, float[] d) =>
            SlopeStep(start, x, x0, sigma, step, noise, scale, 3, d);
        public static void SlopeFromEps(float[] start, float[] x, float[] eps, float sigma, float step, float[] d) => SlopeStepFromEpsilon(start, x, eps, sigma, step, d);
        public void SlopeFromEps(float[] start, float[] x, float[] eps, float sigma, float step, INoiseSource noise, float scale, float[] d) =>
            SlopeStepFromEpsilon(start, x, eps, sigma, step, noise, scale, 3, d);
        public static void SlopeOf(float[] x, float[] x0, float sigma, float[] d) => Slope(x, x0, sigma, d);
        public static (float Down, float Up) Ancestral(float sigma, float sigmaNext) => AncestralStep(sigma, sigmaNext);
    }

    private static float[] Values(float scale, int phase = 1) => Enumerable.Range(0, N).Select(i => MathF.Sin(i * 0.7f + phase) * scale).ToArray();

    private static float[] Each(Func<int, float> f) => Enumerable.Range(0, N).Select(f).ToArray();

    private static float[] Draw(ulong seed)
    {
        var z = new float[N];
        new TorchGaussianNoise(seed).NextGaussian(z);
        return z;
    }

    [Test]
    public void TheStepHelpersComputeTheirFormulasInTheReferencesOrder()
    {
        var probe = new Probe(new SchedulerConfig());
        float[] x = Values(3), x0 = Values(1, 2), eps = Values(0.8f, 3), start = Values(2, 4), z = Draw(7), d = new float[N];
        const float sigma = 2.5f, target = 0.75f, step = -1.25f, scale = 0.3f;
        const float dt = target - sigma;
        float Denoised(int k) => eps[k] * -sigma + x[k];

        Probe.Euler(x, x0, sigma, target, d);
        Assert.That(d, Is.EqualTo(Each(k => (x[k] - x0[k]) / sigma * dt + x[k])), "Euler");
        Probe.Euler(x, x0, sigma, target, z, scale, d);
        Assert.That(d, Is.EqualTo(Each(k => (x[k] - x0[k]) / sigma * dt + x[k] + z[k] * scale)), "Euler + given noise");
        probe.Euler(x, x0, sigma, target, new TorchGaussianNoise(7), scale, d);
        Assert.That(d, Is.EqualTo(Each(k => (x[k] - x0[k]) / sigma * dt + x[k] + z[k] * scale)), "Euler + drawn noise");
        Probe.EulerEps(x, eps, sigma, target, d);
        Assert.That(d, Is.EqualTo(Each(k => (x[k] - Denoised(k)) / sigma * dt + x[k])), "Euler from ε");
        probe.EulerEps(x, eps, sigma, target, new TorchGaussianNoise(7), scale, d);
        Assert.That(d, Is.EqualTo(Each(k => (x[k] - Denoised(k)) / sigma * dt + x[k] + z[k] * scale)), "Euler from ε + drawn noise");

        Probe.SlopeFrom(start, x, x0, sigma, step, d);
        Assert.That(d, Is.EqualTo(Each(k => start[k] + (x[k] - x0[k]) / sigma * step)), "slope step");
        Probe.SlopeFrom(start, x, x0, sigma, step, z, scale, d);
        Assert.That(d, Is.EqualTo(Each(k => start[k] + (x[k] - x0[k]) / sigma * step + z[k] * scale)), "slope step + given noise");
        probe.SlopeFrom(start, x, x0, sigma, step, new TorchGaussianNoise(7), scale, d);
        Assert.That(d, Is.EqualTo(Each(k => start[k] + (x[k] - x0[k]) / sigma * step + z[k] * scale)), "slope step + drawn noise");
        Probe.SlopeFromEps(start, x, eps, sigma, step, d);
        Assert.That(d, Is.EqualTo(Each(k => start[k] + (x[k] - Denoised(k)) / sigma * step)), "slope step from ε");
        probe.SlopeFromEps(start, x, eps, sigma, step, new TorchGaussianNoise(7), scale, d);
        Assert.That(d, Is.EqualTo(Each(k => start[k] + (x[k] - Denoised(k)) / sigma * step + z[k] * scale)), "slope step from ε + drawn noise");

        Probe.SlopeOf(x, x0, sigma, d);
        Assert.That(d, Is.EqualTo(Each(k => (x[k] - x0[k]) / sigma)), "slope");

        // get_ancestral_step: σ_up = √(σn²(σ² − σn²)/σ²), σ_down = √(σn² − σ_up²); 5 → 3: σ_up = 2.4, σ_down = 1.8.
        var (down, up) = Probe.Ancestral(5, 3);
        Assert.That((down, up), Is.EqualTo((1.8f, 2.4f)).Using<(float, float)>((a, b) => Math.Abs(a.Item1 - b.Item1) < 1e-6f && Math.Abs(a.Item2 - b.Item2) < 1e-6f));
        Assert.That(Probe.Ancestral(5, 0), Is.EqualTo((0f, 0f)));
    }

    [Test]
    public void TheTrainingTableOfOneScheduleIsNeverHandedToAnother()
    {
        // σ_max = σ at the last training timestep, computed here in double: ᾱ = Π(1 − β).
        static double SigmaMax(Func<int, double> beta, int count)
        {
            var alphaBar = 1.0;
            for (var i = 0; i < count; i++) alphaBar *= 1 - beta(i);
            return Math.Sqrt((1 - alphaBar) / alphaBar);
        }
        double Linear(int i) => 0.0001 + (0.02 - 0.0001) * i / 999;
        double ScaledLinear(int i) { var r = Math.Sqrt(0.0001) + (Math.Sqrt(0.02) - Math.Sqrt(0.0001)) * i / 999; return r * r; }
        double Short(int i) => 0.0001 + (0.02 - 0.0001) * i / 499;
        var trained = Enumerable.Repeat(0.01, 1000).ToArray();

        // Alternate the schedules so that each one follows another that is kept.
        var cases = new (SchedulerConfig Config, double Expected)[]
        {
            (new SchedulerConfig(), SigmaMax(Linear, 1000)),
            (new SchedulerConfig { BetaSchedule = BetaSchedule.ScaledLinear }, SigmaMax(ScaledLinear, 1000)),
            (new SchedulerConfig(), SigmaMax(Linear, 1000)),
            (new SchedulerConfig { NumTrainTimesteps = 500 }, SigmaMax(Short, 500)),
            (new SchedulerConfig(), SigmaMax(Linear, 1000)),
            (new SchedulerConfig { TrainedBetas = trained }, SigmaMax(_ => 0.01, 1000)),
            (new SchedulerConfig(), SigmaMax(Linear, 1000)),
            (new SchedulerConfig { TrainedBetas = trained }, SigmaMax(_ => 0.01, 1000)),
        };
        Assert.Multiple(() =>
        {
            foreach (var (config, expected) in cases)
                Assert.That(new Probe(config).SigmaMax, Is.EqualTo(expected).Within(2e-4 * expected), $"{config.BetaSchedule}, T = {config.NumTrainTimesteps}, trained: {config.TrainedBetas is not null}");
        });
    }

    [Test]
    public void ATimestepListedTwiceTakesTheSigmaOfTheEvaluationDue()
    {
        // The second evaluation of each interval at the interval's own timestep: t0, t0, t1, t1, t2.
        var probe = new Probe(new SchedulerConfig(), twoEvaluations: true, secondOnOwnTimestep: true);
        probe.SetSigmas([10, 5, 2]);
        var t = probe.Timesteps;
        Assert.That((t[0], t[2]), Is.EqualTo((t[1], t[3])));
        var x = Values(1);
        var scaled = new float[N];
        float[] Scaled(float sigma) => x.Select(v => v / MathF.Sqrt(sigma * sigma + 1)).ToArray();

        probe.ScaleModelInput(x, t[0], scaled);
        Assert.That(scaled, Is.EqualTo(Scaled(10)), "before the first step: the first position");
        var prev = new float[N];
        probe.Step(new StepInput(x, t[0], x, 1), new StepOutput(prev), new TorchGaussianNoise(1));
        probe.ScaleModelInput(x, t[1], scaled);
        Assert.That(scaled, Is.EqualTo(Scaled((float)Math.Sqrt(50))), "after it: the second evaluation, due next");
        for (var i = 1; i < 5; i++) probe.Step(new StepInput(x, t[i], x, 1), new StepOutput(prev), new TorchGaussianNoise(1));
        probe.ScaleModelInput(x, t[4], scaled);
        Assert.That(scaled, Is.EqualTo(Scaled(2)), "after the last step: found in the list");
        probe.ScaleModelInput(x, 500, scaled);
        var sigma500 = (float)SigmaSamplerBaseContractTestsSigma(500);
        for (var k = 0; k < N; k++) Assert.That(scaled[k], Is.EqualTo(x[k] / Math.Sqrt(sigma500 * (double)sigma500 + 1)).Within(1e-4 * Math.Abs(x[k]) + 1e-7), "an unlisted timestep");
    }

    [Test]
    public void UnlistedTimestepsAtBothEndsOfTheTrainingRangeTakeTheirTrainingSigma()
    {
        var probe = new Probe(new SchedulerConfig());
        probe.SetSigmas([10, 5, 2]);
        var x = Values(1);
        var noise = Values(1, 5);
        var noised = new float[N];
        foreach (var t in new[] { 0, 999 })
        {
            var sigma = SigmaSamplerBaseContractTestsSigma(t);
            probe.AddNoise(x, noise, [t], noised);
            for (var k = 0; k < N; k++) Assert.That(noised[k], Is.EqualTo(x[k] + sigma * noise[k]).Within(2e-4 * sigma), $"t = {t}");
        }
    }

    [Test]
    public void TheHistoryAllocatesAllItsEntriesOnTheFirstPush()
    {
        var probe = new Probe(new SchedulerConfig(), history: 3);
        probe.Push(N).Fill(1);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 5; i++) probe.Push(N).Fill(i);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, "the later pushes reuse the entries made by the first");
    }

    // σ_t of the default linear schedule at an integer timestep, in double.
    private static double SigmaSamplerBaseContractTestsSigma(int t)
    {
        var alphaBar = 1.0;
        for (var i = 0; i <= t; i++) alphaBar *= 1 - (0.0001 + (0.02 - 0.0001) * i / 999);
        return Math.Sqrt((1 - alphaBar) / alphaBar);
    }
}
