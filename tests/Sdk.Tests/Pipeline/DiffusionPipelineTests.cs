using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Pipeline;

[TestFixture]
public sealed class DiffusionPipelineTests
{
    private static DiffusionPipeline Pipeline(ClosedFormModel? model = null) => new(model ?? new ClosedFormModel(), TestHost.Factory);

    private static GenerationRequest Request(string sampler = "ddim", int steps = 10, double guidance = 1, ulong seed = 1, int batch = 4) => new()
    {
        Sampling = new SamplingOptions { Sampler = sampler, Steps = steps, GuidanceScale = guidance },
        BatchSize = batch,
        Seed = seed,
        ClassLabel = 1,
    };

    /// <summary>
    /// The samplers for the closed-form model's family: a variance-preserving network shown training timesteps, data to noise
    /// reversed. Left out, each with its own conformance fixture: the flow-matching and EDM samplers (their networks predict a
    /// velocity or a preconditioned F, <see cref="IFlowMatchingSampler"/>, <see cref="IDenoisedOutputMapping"/>), iPNDM (a
    /// v-network on its own trigonometric levels: it reports a prediction type other than the one it was given) and the
    /// inversions (ascending timesteps, from data to noise).
    /// </summary>
    public static IEnumerable<string> Samplers() => TestHost.Factory.Names.Where(name =>
    {
        var sampler = TestHost.Factory.Create(name, new SchedulerConfig());
        if (sampler is IFlowMatchingSampler or IDenoisedOutputMapping || sampler.Config.PredictionType != PredictionType.Epsilon) return false;
        if (sampler is IAdaptiveSampler) return true;
        sampler.SetTimesteps(10);
        return sampler.Timesteps[0] > sampler.Timesteps[^1];
    });

    [TestCase(0.0)]
    [TestCase(0.5)]
    [TestCase(1.0)]
    public void GuidanceRunsOnlyAboveOne_AsInTheReference(double scale)
    {
        // At or below 1 the conditional model runs alone: one evaluation per step, the same latents as w = 1.
        var result = Pipeline().Generate(Request(guidance: scale));
        var conditional = Pipeline().Generate(Request(guidance: 1));
        Assert.Multiple(() =>
        {
            Assert.That(result.ModelEvaluations, Is.EqualTo(10));
            Assert.That(result.Latents, Is.EqualTo(conditional.Latents));
            Assert.That(ClassifierFreeGuidance.Applies(1.0001), Is.True);
            Assert.That(ClassifierFreeGuidance.Applies(null), Is.False);
        });
    }

    [TestCaseSource(nameof(Samplers))]
    public async Task EverySamplerGeneratesAndTheSameSeedGivesTheSameBytes(string sampler)
    {
        var pipeline = Pipeline();
        // 32 items, so that the mean below measures the sampler, not the draw (an ancestral sampler's 4-item mean
        // at 10 steps can land a hair either side of the bound).
        var first = await pipeline.GenerateAsync(Request(sampler, guidance: 2, batch: 32));
        var again = await pipeline.GenerateAsync(Request(sampler, guidance: 2, batch: 32));
        var other = await pipeline.GenerateAsync(Request(sampler, guidance: 2, seed: 2, batch: 32));
        Assert.Multiple(() =>
        {
            Assert.That(first.Latents, Is.All.Not.NaN);
            Assert.That(again.Latents, Is.EqualTo(first.Latents));
            Assert.That(other.Latents, Is.Not.EqualTo(first.Latents));
            Assert.That(first.Latents.Average(), Is.GreaterThan(0.3), "label 1 is the +0.5 component");
        });
    }

    [Test]
    public async Task ProgressCallbackAndStatisticsSeeEveryStep()
    {
        var reports = new List<GenerationProgress>();
        var seen = new List<int>();
        var request = new GenerationRequest
        {
            Sampling = new SamplingOptions { Steps = 7 }, ClassLabel = 0, BatchSize = 2, CollectStatistics = true,
            OnStep = (step, latents) => { seen.Add(step.Index); Assert.That(latents.Length, Is.EqualTo(32)); },
        };
        var result = await Pipeline().GenerateAsync(request, new SynchronousProgress<GenerationProgress>(reports.Add));
        Assert.Multiple(() =>
        {
            Assert.That(reports.Select(r => r.Step), Is.EqualTo(Enumerable.Range(1, 7)));
            Assert.That(reports.All(r => r.TotalSteps == 7), Is.True);
            Assert.That(reports.Select(r => r.Timestep), Is.EqualTo(result.Timesteps));
            Assert.That(seen, Is.EqualTo(Enumerable.Range(0, 7)));
            Assert.That(result.Statistics, Has.Count.EqualTo(7));
            Assert.That(result.Statistics![0].Sample.Std, Is.GreaterThan(0.5f), "x_T is noise");
        });
    }

    [Test]
    public void CancellationStopsBetweenSteps()
    {
        using var cancel = new CancellationTokenSource();
        var steps = 0;
        var run = new GenerationRequest { Sampling = Request().Sampling, ClassLabel = 1, OnStep = (s, _) => { steps++; if (s.Index == 2) cancel.Cancel(); } };
        Assert.ThrowsAsync<OperationCanceledException>(() => Pipeline().GenerateAsync(run, cancellationToken: cancel.Token));
        Assert.That(steps, Is.EqualTo(3));
    }

    [Test]
    public void TheFirstNonFiniteValueFailsFastNamingStepAndTensor()
    {
        var model = new ClosedFormModel(inner => new PoisonAfter(inner, calls: 3));
        var error = Assert.Throws<NonFiniteValueException>(() => Pipeline(model).Generate(Request()))!;
        Assert.Multiple(() =>
        {
            Assert.That(error.Step, Is.EqualTo(3));
            Assert.That(error.Tensor, Is.EqualTo("model output"));
            Assert.That(error.Message, Does.Contain("Step 3"));
        });
    }

    [Test]
    public void OutOfMemoryIsRetriedWithHalfTheBatchAndGivesTheSameBytes()
    {
        var normal = Pipeline().Generate(Request(batch: 6, guidance: 3));
        var tight = Pipeline(new ClosedFormModel(inner => new MemoryLimit(inner, maxBatch: 6))).Generate(Request(batch: 6, guidance: 3));
        Assert.Multiple(() =>
        {
            Assert.That(tight.Latents, Is.EqualTo(normal.Latents));
            Assert.That(normal.ModelEvaluations, Is.EqualTo(10), "guidance batched into one call per step");
            Assert.That(tight.ModelEvaluations, Is.EqualTo(1 + 2 * 10), "one failed call, then two halves per step");
        });
        var error = Assert.Throws<ModelOutOfMemoryException>(() => Pipeline(new ClosedFormModel(inner => new MemoryLimit(inner, maxBatch: 2))).Generate(Request(batch: 6, guidance: 3)))!;
        Assert.That(error.Message, Does.Contain("half"));
    }

    [Test]
    public async Task ConcurrentCallsOnOnePipelineMatchSequentialOnes()
    {
        var pipeline = Pipeline();
        var samplers = new[] { "ddim", "ddpm", "dpm-solver", "pndm" }.Where(TestHost.Factory.Names.Contains).ToArray();
        var sequential = samplers.Select(s => pipeline.Generate(Request(s, guidance: 2)).Latents).ToArray();
        var concurrent = await Task.WhenAll(samplers.Select(s => pipeline.GenerateAsync(Request(s, guidance: 2))));
        for (var i = 0; i < samplers.Length; i++) Assert.That(concurrent[i].Latents, Is.EqualTo(sequential[i]), samplers[i]);
    }

    [Test]
    public void ImageToImageRunsTheTailOfTheScheduleFromTheStartImage()
    {
        var start = Enumerable.Repeat(-0.5f, 16).ToArray(); // a component-0 image
        float Distance(GenerationResult r) => r.Latents.Take(16).Zip(start, (a, b) => Math.Abs(a - b)).Max();
        var weak = Pipeline().Generate(new GenerationRequest { Sampling = new SamplingOptions { Steps = 10 }, InitImage = start, Strength = 0.3, ClassLabel = 2 });
        var strong = Pipeline().Generate(new GenerationRequest { Sampling = new SamplingOptions { Steps = 10 }, InitImage = start, Strength = 1.0, ClassLabel = 1 });
        Assert.Multiple(() =>
        {
            Assert.That(weak.Timesteps, Has.Count.EqualTo(3));
            Assert.That(strong.Timesteps, Has.Count.EqualTo(10));
            Assert.That(Distance(weak), Is.LessThan(0.3), "a weak strength stays near the start image");
            Assert.That(Distance(strong), Is.GreaterThan(0.5), "full strength with label 1 moves to the other component");
        });
    }

    // An adaptive sampler has no schedule to start part-way into: DpmAdaptiveSamplerTests checks that it refuses a start image.
    public static IEnumerable<string> FixedScheduleSamplers() => TestHost.Factory.Names.Where(n => n != SamplerNames.DpmAdaptive);

    [TestCaseSource(nameof(FixedScheduleSamplers))]
    public void ImageToImageWorksWithEverySamplerAtEveryStrength(string sampler)
    {
        var start = Enumerable.Repeat(0.5f, 16).ToArray();
        foreach (var strength in new[] { 0.05, 0.3, 0.55, 0.8, 1.0 })
        {
            var request = new GenerationRequest
            {
                Sampling = new SamplingOptions { Sampler = sampler, Steps = 10 }, InitImage = start, Strength = strength, ClassLabel = 1,
            };
            try
            {
                Assert.That(Pipeline().Generate(request).Latents, Is.All.Not.NaN, $"strength {strength}");
            }
            catch (SamplerStateException e) when (strength < 1)
            {
                // A sampler may refuse to start part-way (PNDM's Runge–Kutta warm-up), but only by name and with the way out.
                Assert.That(e.Message, Does.Contain($"'{sampler}'"));
            }
        }
    }

    [Test]
    public void RequestsThatDoNotFitTheModelAreTypedErrors()
    {
        var pipeline = Pipeline();
        Assert.Multiple(() =>
        {
            Assert.That(Assert.Throws<SamplingOptionException>(() => pipeline.Generate(new GenerationRequest { BatchSize = 2, ClassLabels = [0, 1, 1] }))!.Option, Is.EqualTo("ClassLabels"));
            Assert.That(Assert.Throws<SamplingOptionException>(() => pipeline.Generate(new GenerationRequest { ClassLabel = 7 }))!.Option, Is.EqualTo("ClassLabel"));
            Assert.That(Assert.Throws<SamplingOptionException>(() => pipeline.Generate(new GenerationRequest { BatchSize = 0 }))!.Option, Is.EqualTo("BatchSize"));
            Assert.That(Assert.Throws<SamplingOptionException>(() => pipeline.Generate(new GenerationRequest { InitImage = new float[5] }))!.Option, Is.EqualTo("InitImage"));
            Assert.That(Assert.Throws<SamplingOptionException>(() => pipeline.Generate(new GenerationRequest { InitImage = new float[16], Strength = 0 }))!.Option, Is.EqualTo("Strength"));
            Assert.That(Assert.Throws<SamplingOptionException>(() => pipeline.Generate(new GenerationRequest { Sampling = new SamplingOptions { Steps = 0 } }))!.Option, Is.EqualTo("Steps"));
            Assert.Throws<UnknownSamplerException>(() => pipeline.Generate(new GenerationRequest { Sampling = new SamplingOptions { Sampler = "nope" } }));
        });
    }

    [Test]
    public void WithoutALabelAClassConditionalModelSamplesUnconditionally()
    {
        var result = Pipeline().Generate(new GenerationRequest { BatchSize = 64, Sampling = new SamplingOptions { Steps = 20 }, Seed = 5 });
        var itemMeans = Enumerable.Range(0, 64).Select(b => result.Latents.Skip(b * 16).Take(16).Average()).ToArray();
        Assert.That(itemMeans.Count(m => m > 0), Is.InRange(16, 48), "both components appear");
    }

    [Test]
    public void TheRunsDenoiserIsDisposedWhenTheRunEndsOrFails()
    {
        var created = new List<DisposalProbe>();
        var model = new ClosedFormModel(inner =>
        {
            var probe = new DisposalProbe(created.Count == 1 ? new PoisonAfter(inner, 2) : inner);
            created.Add(probe);
            return probe;
        });
        Pipeline(model).Generate(Request());
        Assert.Throws<NonFiniteValueException>(() => Pipeline(model).Generate(Request()));
        Assert.That(created.Select(d => d.Disposed), Is.EqualTo(new[] { true, true }));
    }

    private sealed class DisposalProbe(IDenoiser inner) : IDenoiser
    {
        public bool Disposed { get; private set; }
        public int? FixedBatchSize => inner.FixedBatchSize;
        public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default) => inner.Predict(input, output, cancellationToken);
        public void Dispose() => Disposed = true;
    }

    private sealed class PoisonAfter(IDenoiser inner, int calls) : IDenoiser
    {
        private int _calls;
        public int? FixedBatchSize => inner.FixedBatchSize;
        public void Dispose() => inner.Dispose();
        public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default)
        {
            inner.Predict(input, output, cancellationToken);
            if (_calls++ == calls) output[5] = float.NaN;
        }
    }

    private sealed class MemoryLimit(IDenoiser inner, int maxBatch) : IDenoiser
    {
        public int? FixedBatchSize => inner.FixedBatchSize;
        public void Dispose() => inner.Dispose();
        public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default)
        {
            if (input.Shape.Batch > maxBatch) throw new ModelOutOfMemoryException($"batch {input.Shape.Batch} does not fit");
            inner.Predict(input, output, cancellationToken);
        }
    }
}
