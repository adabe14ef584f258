using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// What <see cref="SamplerBase"/> promises every sampler: misuse (no timesteps, a step out of order, a begin index
/// outside the schedule or after the first step, buffers of the wrong size, bad explicit timesteps, bad
/// <c>AddNoise</c> arguments) is a typed error that says what was wrong, before any work; and
/// <see cref="NoiseLevels.AlphaBarAt"/> interpolates log σ between training timesteps.
/// </summary>
[TestFixture]
public sealed class SamplerBaseContractTests
{
    private const int Batch = 2, Item = 6, N = Batch * Item;

    private static ISampler Ddim(int steps = 0)
    {
        var ddim = TestHost.Factory.Create("ddim", new SchedulerConfig());
        if (steps > 0) ddim.SetTimesteps(steps);
        return ddim;
    }

    private static float[] Values(int n, float scale = 0.5f) => Enumerable.Range(0, n).Select(i => MathF.Sin(i + 1) * scale).ToArray();

    private static bool StepAt(ISampler sampler, double t, int n = N, int batch = Batch, int modelOutput = N, int prev = N, int x0 = 0) =>
        sampler.Step(new StepInput(Values(modelOutput), t, Values(n), batch), new StepOutput(new float[prev], new float[x0]), new TorchGaussianNoise(1));

    [Test]
    public void SteppingWithoutTimestepsOrPastTheLastStepIsAStateError()
    {
        var none = Assert.Throws<SamplerStateException>(() => StepAt(Ddim(), 999))!;
        Assert.That(none.Message, Does.Contain("'ddim' sampler has no timesteps: call SetTimesteps before Step"));

        var ddim = Ddim(2);
        StepAt(ddim, ddim.Timesteps[0]);
        StepAt(ddim, ddim.Timesteps[1]);
        var done = Assert.Throws<SamplerStateException>(() => StepAt(ddim, ddim.Timesteps[1]))!;
        Assert.That(done.Message, Does.Contain("has taken all 2 steps"));
    }

    [Test]
    public void AStepOutOfOrderNamesTheExpectedTimestep()
    {
        var ddim = Ddim(4);
        var t = ddim.Timesteps;
        StepAt(ddim, t[0]);
        var e = Assert.Throws<SamplerStateException>(() => StepAt(ddim, t[3]))!;
        Assert.That(e.Message, Does.Contain($"Timestep {t[3]} is not the next step of the 'ddim' sampler: expected {t[1]} (step 2 of 4)"));
        // The first step may start part-way (image to image), at any timestep of the list, including the first.
        var late = Ddim(4);
        StepAt(late, t[2]);
        StepAt(late, t[3]);
        var first = Ddim(4);
        first.SetBeginIndex(0);
        StepAt(first, t[0]);
        Assert.Throws<SamplerStateException>(() => StepAt(Ddim(4), 5), "a first timestep that is not in the list");
    }

    [Test]
    public void ABatchAndBuffersOfTheWrongSizeAreRefusedWithTheirSizes()
    {
        var ddim = Ddim(3);
        var t = ddim.Timesteps[0];
        string Refusal(TestDelegate step) => Assert.Throws<ArgumentException>(step)!.Message;
        Assert.Multiple(() =>
        {
            // 0 is "not stated" (StepInput's default), refused only by per-item steps: StepInputBatchAndScalingTests.
            Assert.That(Refusal(() => StepAt(ddim, t, batch: -1)), Does.Contain($"sample has {N} values, which is not a positive multiple of the batch size -1"));
            Assert.That(Refusal(() => StepAt(ddim, t, batch: 5)), Does.Contain("batch size 5"));
            Assert.That(Refusal(() => StepAt(ddim, t, n: 0, modelOutput: 0, prev: 0)), Does.Contain("sample has 0 values"));
            Assert.That(Refusal(() => StepAt(ddim, t, modelOutput: N - 1)), Does.Contain($"model output has {N - 1} values but the sample has {N}"));
            Assert.That(Refusal(() => StepAt(ddim, t, prev: N + 1)), Does.Contain($"output buffer has {N + 1} values but the sample has {N}"));
            Assert.That(Refusal(() => StepAt(ddim, t, x0: 3)), Does.Contain("predicted-x₀ buffer has 3 values"));
        });
        Assert.DoesNotThrow(() => StepAt(ddim, t, x0: N), "after the refusals the first step still runs: nothing was consumed");
        Assert.Throws<ArgumentNullException>(() => ddim.Step(new StepInput(Values(N), ddim.Timesteps[1], Values(N), Batch), new StepOutput(new float[N]), null!));
    }

    [Test]
    public void TheBeginIndexIsSetBeforeTheFirstStepAndInsideTheSchedule()
    {
        var none = Assert.Throws<SamplerStateException>(() => Ddim().SetBeginIndex(0))!;
        Assert.That(none.Message, Does.Contain("call SetTimesteps before SetBeginIndex"));
        var ddim = Ddim(5);
        foreach (var bad in new[] { -1, 5 })
        {
            var e = Assert.Throws<SamplerStateException>(() => ddim.SetBeginIndex(bad))!;
            Assert.That(e.Message, Does.Contain($"Begin index {bad} is outside the 'ddim' sampler's 5 timesteps (0 to 4)"));
        }
        ddim.SetBeginIndex(4);
        StepAt(ddim, ddim.Timesteps[4]);
        var after = Assert.Throws<SamplerStateException>(() => ddim.SetBeginIndex(0))!;
        Assert.That(after.Message, Does.Contain("already taken a step"));
        ddim.SetTimesteps(5);
        ddim.SetBeginIndex(2);
        StepAt(ddim, ddim.Timesteps[2]);
    }

    [Test]
    public void ExplicitTimestepsMustBeADescendingListInsideTheSchedule()
    {
        SchedulerConfigException Refusal(params double[] timesteps) => Assert.Throws<SchedulerConfigException>(() => Ddim().SetTimesteps(timesteps))!;
        Assert.Multiple(() =>
        {
            var empty = Refusal();
            Assert.That((empty.Key, empty.Value, empty.Allowed), Is.EqualTo(("timesteps", "[]", "a non-empty, strictly descending list")));
            foreach (var (list, index, value) in new (double[], int, string)[] { ([999, -1], 1, "-1"), ([1000], 0, "1000"), ([500, double.NaN], 1, "NaN"), ([999.5], 0, "999.5") })
            {
                var e = Refusal(list);
                Assert.That((e.Key, e.Value), Is.EqualTo(($"timesteps[{index}]", value)));
                Assert.That(e.Allowed, Is.EqualTo("a number in [0, 999]"));
            }
            foreach (var (list, index) in new (double[], int)[] { ([900, 900], 1), ([100, 500, 300], 1) })
            {
                var e = Refusal(list);
                Assert.That(e.Key, Is.EqualTo($"timesteps[{index}]"));
                Assert.That(e.Allowed, Does.Contain($"a value below the previous one ({list[index - 1]})"));
            }
        });
        Assert.Throws<ArgumentNullException>(() => Ddim().SetTimesteps(null!));
        var ddim = Ddim();
        ddim.SetTimesteps([999, 0]);
        Assert.That(ddim.Timesteps, Is.EqualTo(new double[] { 999, 0 }), "both ends of the schedule are accepted");
        StepAt(ddim, 999);
        ddim.SetTimesteps([500, 250]);
        StepAt(ddim, 500); // a new list starts a new run
    }

    [Test]
    public void AddNoiseNeedsOneTimestepPerItemAndBuffersOfOneLength()
    {
        var ddim = Ddim();
        var x = Values(N);
        string Refusal(TestDelegate call) => Assert.Throws<ArgumentException>(call)!.Message;
        Assert.Multiple(() =>
        {
            Assert.That(Refusal(() => ddim.AddNoise(x, x, [], new float[N])), Does.Contain($"{N} values cannot be split into 0 batch items"));
            Assert.That(Refusal(() => ddim.AddNoise(x, x, [1, 2, 3, 4, 5], new float[N])), Does.Contain("into 5 batch items"));
            Assert.That(Refusal(() => ddim.AddNoise(x, Values(N - 2), [10, 20], new float[N])), Does.Contain($"noise ({N - 2})"));
            Assert.That(Refusal(() => ddim.AddNoise(x, x, [10, 20], new float[N + 2])), Does.Contain($"destination ({N + 2})"));
        });
    }

    [TestCase(10.25)]
    [TestCase(500.5)]
    [TestCase(998.75)]
    public void AlphaBarBetweenTrainingTimestepsInterpolatesLogSigma(double t)
    {
        var ddim = Ddim(10); // not a sigma sampler: the training schedule is used
        var alphaBar = new double[1000];
        var product = 1.0;
        for (var i = 0; i < 1000; i++) alphaBar[i] = product *= 1 - (0.0001 + (0.02 - 0.0001) * i / 999.0);
        double LogSigma(int i) => 0.5 * Math.Log((1 - alphaBar[i]) / alphaBar[i]);
        var lo = (int)Math.Floor(t);
        var w = t - lo;
        var sigma = Math.Exp((1 - w) * LogSigma(lo) + w * LogSigma(lo + 1));
        Assert.That(NoiseLevels.AlphaBarAt(ddim, t), Is.EqualTo(1 / (1 + sigma * sigma)).Within(1e-6 / (1 + sigma * sigma)));
        Assert.That(NoiseLevels.AlphaBarAt(ddim, lo), Is.EqualTo(alphaBar[lo]).Within(1e-6 * alphaBar[lo]), "a whole timestep is the table's value");
        Assert.That(NoiseLevels.AlphaBarAt(ddim, 1e6), Is.EqualTo(NoiseLevels.AlphaBarAt(ddim, 999)), "clamped to the last training timestep");
        Assert.Throws<ArgumentNullException>(() => NoiseLevels.AlphaBarAt(null!, t));
    }

    [Test]
    public void ASigmaSamplersAlphaBarIsItsOwnSigmaAtItsTimesteps()
    {
        var euler = TestHost.Factory.Create("euler", new SchedulerConfig());
        euler.SetTimesteps(7);
        var sigmas = ((ISigmaSampler)euler).Sigmas;
        for (var i = 0; i < euler.Timesteps.Count; i++)
            Assert.That(NoiseLevels.AlphaBarAt(euler, euler.Timesteps[i]), Is.EqualTo(1 / (1 + sigmas[i] * sigmas[i])), $"step {i}");
    }
}
