using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Pipeline;

[TestFixture]
public sealed class SamplerEnsembleTests
{
    private static DiffusionPipeline Pipeline(ClosedFormModel? model = null) => new(model ?? new ClosedFormModel(), TestHost.Factory);

    private static GenerationRequest Request(string sampler, SamplerEnsemble? ensemble = null, double guidance = 2, int steps = 8) => new()
    {
        Sampling = new SamplingOptions { Sampler = sampler, Steps = steps, GuidanceScale = guidance },
        BatchSize = 3,
        Seed = 7,
        ClassLabels = [0, 1, 2],
        Ensemble = ensemble,
    };

    private static SamplerEnsemble Ensemble(params (string Sampler, double Weight)[] members) => new(members.Select(m => new EnsembleMember(m.Sampler, m.Weight)));

    [TestCase("ddim:0.3,dpm-solver:0.5,euler-ancestral:0.2")]
    [TestCase("ddim:2,dpm-solver:-1")]
    [TestCase("pndm:1,unipc:3")]
    public void TheResultIsTheWeightedMeanOfTheMembersRunSeparately(string text)
    {
        var ensemble = SamplerEnsemble.Parse(text);
        var pipeline = Pipeline();
        var combined = pipeline.Generate(Request("ddim", ensemble));
        var alone = ensemble.Members.Select(m => pipeline.Generate(Request(m.Sampler))).ToArray();
        var sum = ensemble.Members.Sum(m => m.Weight);
        Assert.Multiple(() =>
        {
            for (var k = 0; k < alone.Length; k++)
                Assert.That(combined.Members![k].Latents, Is.EqualTo(alone[k].Latents), $"member {k} ({ensemble.Members[k].Sampler}) runs as it runs alone");
            for (var i = 0; i < combined.Latents.Length; i++)
            {
                var expected = alone.Select((r, k) => ensemble.Members[k].Weight / sum * r.Latents[i]).Sum();
                // One float32 rounding of the exact mean (plus the double sum's own error, far below it).
                Assert.That(combined.Latents[i], Is.EqualTo(expected).Within(Math.Abs(expected) * 6e-8 + 1e-12), $"element {i}");
            }
            Assert.That(combined.ModelEvaluations, Is.EqualTo(alone.Sum(r => r.ModelEvaluations)));
            Assert.That(combined.Timesteps, Is.EqualTo(alone.SelectMany(r => r.Timesteps)));
            Assert.That(combined.SamplerName, Does.StartWith("ensemble("));
        });
    }

    [Test]
    public void ModelEvaluationsAreTheMembersSumAndPndmsWarmUpCounts()
    {
        var result = Pipeline().Generate(Request("ddim", Ensemble(("ddim", 1), ("pndm", 1), ("dpm-solver", 1)), steps: 10));
        Assert.Multiple(() =>
        {
            // Guidance batches both passes into one call per step; PNDM's Runge–Kutta warm-up costs 3 extra calls on each of its first 3 steps.
            Assert.That(result.Members!.Select(m => m.ModelEvaluations), Is.EqualTo(new[] { 10, 19, 10 }));
            Assert.That(result.ModelEvaluations, Is.EqualTo(39));
        });
    }

    [Test]
    public void OneMemberOfAnyWeightIsThatSamplerAlone()
    {
        var pipeline = Pipeline();
        var single = pipeline.Generate(Request("dpm-solver", Ensemble(("dpm-solver", 2.5))));
        Assert.That(single.Latents, Is.EqualTo(pipeline.Generate(Request("dpm-solver")).Latents));
    }

    [Test]
    public void ProgressAndCallbacksCountTheMembersStepsOneAfterAnother()
    {
        var reports = new List<GenerationProgress>();
        var seen = new List<StepInfo>();
        var request = new GenerationRequest
        {
            Sampling = new SamplingOptions { Steps = 5 }, ClassLabel = 0, Ensemble = Ensemble(("ddim", 1), ("euler", 1)),
            OnStep = (step, _) => seen.Add(step),
        };
        Pipeline().Generate(request, new Synchronous(reports.Add));
        Assert.Multiple(() =>
        {
            Assert.That(reports.Select(r => r.Step), Is.EqualTo(Enumerable.Range(1, 10)));
            Assert.That(reports.All(r => r.TotalSteps == 10), Is.True);
            Assert.That(seen.Select(s => s.Index), Is.EqualTo(Enumerable.Range(0, 10)));
        });
    }

    [Test]
    public void InvalidEnsemblesAreTypedErrorsNamingWhatIsWrong()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Assert.Throws<SamplingOptionException>(() => Ensemble())!.Option, Is.EqualTo("Ensemble"));
            Assert.That(Assert.Throws<SamplingOptionException>(() => Ensemble(("ddim", 1), ("euler", double.NaN)))!.Option, Is.EqualTo("Ensemble[1].Weight"));
            Assert.That(Assert.Throws<SamplingOptionException>(() => Ensemble(("ddim", double.PositiveInfinity)))!.Option, Is.EqualTo("Ensemble[0].Weight"));
            Assert.That(Assert.Throws<SamplingOptionException>(() => Ensemble((" ", 1)))!.Option, Is.EqualTo("Ensemble[0].Sampler"));
            var zero = Assert.Throws<SamplingOptionException>(() => Ensemble(("ddim", 0.5), ("euler", -0.5)))!;
            Assert.That(zero.Option, Is.EqualTo("Ensemble"));
            Assert.That(zero.Allowed, Does.Contain("sum is not zero"));
            // A sum nearly cancelled would scale the latents ten million-fold (they reached 8e6); 100-fold is the limit.
            var cancelled = Assert.Throws<SamplingOptionException>(() => Ensemble(("ddim", 0.5), ("euler", -0.4999999)))!;
            Assert.That(cancelled.Allowed, Does.Contain("1/100"));
            Assert.That(Ensemble(("ddim", 50.5), ("euler", -49.5)).Weights, Is.EqualTo(new[] { 50.5, -49.5 }), "amplification 100 is allowed");
            Assert.That(Assert.Throws<SamplingOptionException>(() => Ensemble(("ddim", 50.6), ("euler", -49.6)))!.Option, Is.EqualTo("Ensemble"), "amplification 100.2");
            foreach (var text in new[] { "", "ddim", "ddim:", ":1", "ddim:0.5,euler:x", "ddim:0.5;euler:0.5" })
                Assert.That(Assert.Throws<SamplingOptionException>(() => SamplerEnsemble.Parse(text))!.Option, Is.EqualTo("Ensemble"), text);
        });
    }

    [Test]
    public void AnUnknownMemberFailsBeforeAnyModelCall()
    {
        var model = new ClosedFormModel();
        var error = Assert.Throws<UnknownSamplerException>(() => Pipeline(model).Generate(Request("ddim", Ensemble(("ddim", 1), ("nope", 1)))))!;
        Assert.Multiple(() =>
        {
            Assert.That(error.Name, Is.EqualTo("nope"));
            Assert.That(model.DenoisersCreated, Is.Zero);
        });
    }

    [Test]
    public void ParseReadsInvariantNumbersAndRoundTrips()
    {
        var ensemble = SamplerEnsemble.Parse(" ddim:0.25, dpm-solver:1e-1 ,euler:-0.05");
        Assert.Multiple(() =>
        {
            Assert.That(ensemble.Members, Is.EqualTo(new[] { new EnsembleMember("ddim", 0.25), new EnsembleMember("dpm-solver", 0.1), new EnsembleMember("euler", -0.05) }));
            Assert.That(ensemble.Weights.Sum(), Is.EqualTo(1).Within(1e-15));
            Assert.That(SamplerEnsemble.Parse(ensemble.ToString()).Members, Is.EqualTo(ensemble.Members));
        });
    }

    private sealed class Synchronous(Action<GenerationProgress> report) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => report(value);
    }
}
