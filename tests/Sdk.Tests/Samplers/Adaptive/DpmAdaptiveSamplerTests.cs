using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Samplers.Adaptive;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Diffusion.Sdk.Tests.Samplers.Adaptive;

/// <summary>
/// dpm-adaptive as a sampler: the network side (input scaling, timestep of σ, ε / v / x₀ to D) against the σ-space
/// solver on the same closed form, and the pipeline, guidance, progress, callbacks, ensembles, errors and command line.
/// </summary>
[TestFixture]
public sealed class DpmAdaptiveSamplerTests
{
    // Stable Diffusion's schedule: the sampler's σ range is its training range, 0.0292 to 14.61.
    private static readonly SchedulerConfig Sd = new() { BetaSchedule = BetaSchedule.ScaledLinear, BetaStart = 0.00085, BetaEnd = 0.012 };

    // A network trained on the schedule for Gaussian data x₀ ~ N(0.3, 0.5²) per element, answering in its prediction type.
    private sealed class GaussianNetwork(PredictionType type, SchedulerConfig config) : IDenoiser
    {
        private readonly double[] _logSigmas = SigmaMath.LogSigmas(NoiseSchedule.FromConfig(config));
        public int? FixedBatchSize => null;
        public int Calls { get; private set; }

        public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default)
        {
            Calls++;
            // σ of the fractional timestep by log-linear interpolation (what a network trained on integer t sees).
            var t = Math.Clamp(input.Timestep, 0, _logSigmas.Length - 1);
            var lo = (int)Math.Floor(t);
            var hi = Math.Min(lo + 1, _logSigmas.Length - 1);
            var sigma = Math.Exp((1 - (t - lo)) * _logSigmas[lo] + (t - lo) * _logSigmas[hi]);
            double scale = Math.Sqrt(sigma * sigma + 1), alpha = 1 / scale, sigmaVp = sigma / scale;
            for (var i = 0; i < output.Length; i++)
            {
                var x = input.Sample[i] * scale;
                var x0 = Mean + Std * Std / (Std * Std + sigma * sigma) * (x - Mean);
                var eps = (x - x0) / sigma;
                output[i] = (float)(type switch
                {
                    PredictionType.Epsilon => eps,
                    PredictionType.VPrediction => alpha * eps - sigmaVp * x0,
                    _ => x0,
                });
            }
        }

        public void Dispose() { }
    }

    private const double Mean = 0.3, Std = 0.5;

    private static void Gaussian(ReadOnlySpan<float> x, double sigma, Span<float> denoised)
    {
        for (var i = 0; i < x.Length; i++) denoised[i] = (float)(Mean + Std * Std / (Std * Std + sigma * sigma) * (x[i] - Mean));
    }

    private static float[] Noise(int n, double sigma, ulong seed = 5)
    {
        var x = new float[n];
        new TorchGaussianNoise(seed).NextGaussian(x);
        for (var i = 0; i < n; i++) x[i] *= (float)sigma;
        return x;
    }

    [TestCase(PredictionType.Epsilon)]
    [TestCase(PredictionType.VPrediction)]
    [TestCase(PredictionType.Sample)]
    public void ThroughTheNetworkItFollowsTheSigmaSpaceSolver(PredictionType type)
    {
        var config = Sd.Clone();
        config.PredictionType = type;
        var sampler = new DpmAdaptiveSampler(config, new AdaptiveDpmSolverOptions { Rtol = 0.01, Atol = 0.002 });
        sampler.SetTimesteps(50);
        var start = Noise(64, sampler.InitNoiseSigma);
        using var network = new GaussianNetwork(type, config);
        var loop = new SamplingLoop { Sampler = sampler, Denoiser = network };
        var x = loop.Run(start.ToArray(), new TensorShape(1, 1, 8, 8), new TorchGaussianNoise(1), default, default, CancellationToken.None);

        var expected = start.ToArray();
        var info = new AdaptiveDpmSolver(sampler.Options).Solve(Gaussian, expected, sampler.SigmaStart, sampler.SigmaEnd);
        Assert.Multiple(() =>
        {
            Assert.That(sampler.SigmaStart, Is.EqualTo(14.6146).Within(1e-4));
            Assert.That(sampler.SigmaEnd, Is.EqualTo(0.0292).Within(1e-4));
            Assert.That(sampler.AcceptedSteps, Is.EqualTo(info.Accepted));
            Assert.That(sampler.RejectedSteps, Is.EqualTo(info.Rejected));
            Assert.That(network.Calls, Is.EqualTo(info.ModelEvaluations));
            Assert.That(loop.ModelEvaluations, Is.EqualTo(info.ModelEvaluations));
            Assert.That(loop.StepsTaken, Is.EqualTo(info.Accepted));
            Assert.That(sampler.Timesteps, Has.Count.EqualTo(info.Accepted), "one timestep per accepted step");
            Assert.That(sampler.Timesteps[0], Is.EqualTo(999).Within(1e-3));
            Assert.That(sampler.Timesteps, Is.Ordered.Descending);
            Tolerance.AssertClose(x, expected.Select(v => (double)v).ToArray(), "the same endpoint", 1e-4, 1e-4);
        });
    }

    private static DiffusionPipeline Pipeline() => new(new ClosedFormModel(), TestHost.Factory);

    private static GenerationRequest Request(double guidance = 1, ulong seed = 1, double? eta = null, double? rtol = null) => new()
    {
        Sampling = new SamplingOptions { Sampler = SamplerNames.DpmAdaptive, GuidanceScale = guidance, Eta = eta, Rtol = rtol },
        BatchSize = 16, Seed = seed, ClassLabel = 1,
    };

    [Test]
    public async Task ThePipelineReportsSigmaEvaluationsAndRejectionsNotStepsOfN()
    {
        var reports = new List<GenerationProgress>();
        var seen = new List<StepInfo>();
        var request = new GenerationRequest
        {
            Sampling = new SamplingOptions { Sampler = SamplerNames.DpmAdaptive, Rtol = 0.01 }, BatchSize = 4, ClassLabel = 0, CollectStatistics = true,
            OnStep = (step, latents) => seen.Add(step),
        };
        var result = await Pipeline().GenerateAsync(request, new SynchronousProgress<GenerationProgress>(reports.Add));
        var accepted = result.Timesteps.Count;
        Assert.Multiple(() =>
        {
            Assert.That(reports.All(r => r.TotalSteps is null), Is.True, "no total: the sampler chooses its steps");
            Assert.That(reports, Has.Count.EqualTo(accepted + result.RejectedSteps), "one report per step tried");
            Assert.That(reports[^1].Step, Is.EqualTo(accepted));
            Assert.That(reports[^1].RejectedSteps, Is.EqualTo(result.RejectedSteps));
            Assert.That(reports[^1].ModelEvaluations, Is.EqualTo(result.ModelEvaluations));
            Assert.That(reports.Select(r => r.ModelEvaluations), Is.Ordered.Ascending);
            Assert.That(reports.Select(r => r.Sigma!.Value), Is.Ordered.Descending);
            Assert.That(reports[^1].Sigma, Is.EqualTo(0.0100).Within(1e-4), "the linear schedule's σ_min");
            Assert.That(reports.Select(r => r.Fraction), Is.Ordered.Ascending);
            Assert.That(reports[^1].Fraction, Is.EqualTo(1).Within(1e-9));
            Assert.That(seen.Select(s => s.Index), Is.EqualTo(Enumerable.Range(0, accepted)), "the callback sees each accepted step");
            Assert.That(seen.All(s => s.TotalSteps is null && s.Sigma is not null), Is.True);
            Assert.That(result.Statistics, Has.Count.EqualTo(result.ModelEvaluations), "statistics per evaluation");
            Assert.That(result.ModelEvaluations, Is.EqualTo(3 * (accepted + result.RejectedSteps) - result.RejectedSteps));
            Assert.That(result.SamplerName, Is.EqualTo("dpm-adaptive"));
        });
    }

    [Test]
    public async Task GuidanceSteersItAndATighterToleranceTakesMoreEvaluations()
    {
        var pipeline = Pipeline();
        var plain = await pipeline.GenerateAsync(Request());
        var guided = await pipeline.GenerateAsync(Request(guidance: 3));
        var again = await pipeline.GenerateAsync(Request(guidance: 3));
        var tight = await pipeline.GenerateAsync(Request(rtol: 0.002));
        Assert.Multiple(() =>
        {
            Assert.That(plain.Latents.Average(), Is.GreaterThan(0.3), "label 1 is the +0.5 component");
            Assert.That(guided.Latents, Is.Not.EqualTo(plain.Latents), "guidance changes the denoiser the sampler sees");
            Assert.That(guided.Latents, Is.EqualTo(again.Latents), "and is deterministic");
            Assert.That(tight.ModelEvaluations, Is.GreaterThan(plain.ModelEvaluations));
        });
    }

    [Test]
    public async Task TheAncestralVariantIsSeededAndDiffersFromTheOde()
    {
        var pipeline = Pipeline();
        var ode = await pipeline.GenerateAsync(Request());
        var first = await pipeline.GenerateAsync(Request(eta: 1));
        var again = await pipeline.GenerateAsync(Request(eta: 1));
        var other = await pipeline.GenerateAsync(Request(eta: 1, seed: 2));
        Assert.Multiple(() =>
        {
            Assert.That(first.Latents, Is.EqualTo(again.Latents));
            Assert.That(first.Latents, Is.Not.EqualTo(ode.Latents));
            Assert.That(other.Latents, Is.Not.EqualTo(first.Latents));
            Assert.That(first.Latents, Is.All.Not.NaN);
        });
    }

    [Test]
    public async Task AnEnsembleWithAnAdaptiveMemberHasNoStepTotalAndSumsItsEvaluations()
    {
        var reports = new List<GenerationProgress>();
        var request = new GenerationRequest
        {
            Ensemble = SamplerEnsemble.Parse("ddim:0.5,dpm-adaptive:0.5"), Sampling = new SamplingOptions { Steps = 10 }, BatchSize = 4, ClassLabel = 1,
        };
        var result = await Pipeline().GenerateAsync(request, new SynchronousProgress<GenerationProgress>(reports.Add));
        Assert.Multiple(() =>
        {
            Assert.That(result.Members![0].ModelEvaluations, Is.EqualTo(10));
            Assert.That(result.ModelEvaluations, Is.EqualTo(10 + result.Members[1].ModelEvaluations));
            Assert.That(reports.All(r => r.TotalSteps is null), Is.True);
            Assert.That(reports[^1].ModelEvaluations, Is.EqualTo(result.ModelEvaluations));
            Assert.That(reports[^1].Step, Is.EqualTo(10 + result.Members[1].Timesteps.Count));
        });
    }

    [Test]
    public void WhatItCannotDoIsATypedErrorBeforeAnyWork()
    {
        var pipeline = Pipeline();
        SamplingOptionException Refused(Action<SamplingOptions> set, float[]? init = null)
        {
            var options = new SamplingOptions { Sampler = SamplerNames.DpmAdaptive };
            set(options);
            return Assert.ThrowsAsync<SamplingOptionException>(() => pipeline.GenerateAsync(new GenerationRequest { Sampling = options, InitImage = init, ClassLabel = 1 }))!;
        }
        var sampler = new DpmAdaptiveSampler(Sd);
        sampler.SetTimesteps(10);
        Assert.Multiple(() =>
        {
            Assert.That(Refused(o => o.UseKarrasSigmas = true).Option, Is.EqualTo("UseKarrasSigmas"));
            Assert.That(Refused(o => o.Thresholding = true).Option, Is.EqualTo("Thresholding"));
            Assert.That(Refused(o => o.Temperature = 0.7).Option, Is.EqualTo("Temperature"));
            Assert.That(Refused(o => o.NoiseInjection = 0.1).Option, Is.EqualTo("NoiseInjection"));
            Assert.That(Refused(o => o.Rtol = 0).Option, Is.EqualTo("Rtol"));
            Assert.That(Refused(o => o.Atol = double.NaN).Option, Is.EqualTo("Atol"));
            Assert.That(Refused(_ => { }, new float[16]).Option, Is.EqualTo("InitImage"));
            Assert.That(Assert.Throws<SamplerStateException>(() => sampler.Step(new StepInput(new float[4], 999, new float[4]), new StepOutput(new float[4]), new TorchGaussianNoise(0)))!.Message,
                Does.Contain("chooses its own steps"));
            Assert.That(() => sampler.SetBeginIndex(3), Throws.TypeOf<SamplerStateException>());
            Assert.That(() => sampler.NextEvaluation(new float[4]), Throws.TypeOf<SamplerStateException>(), "before Begin");
            Assert.That(() => new DpmAdaptiveSampler(Sd).Begin(new float[4], 1), Throws.TypeOf<SamplerStateException>(), "before its range is set");
        });
    }

    [Test]
    public void SettingsComeFromTheConfigurationKeysAndTheRequest()
    {
        var config = Sd.Clone();
        config.AdditionalKeys["order"] = System.Text.Json.JsonSerializer.SerializeToElement(2);
        config.AdditionalKeys["h_init"] = System.Text.Json.JsonSerializer.SerializeToElement(0.2);
        var sampler = (DpmAdaptiveSampler)TestHost.Factory.Create(new SamplingOptions { Sampler = SamplerNames.DpmAdaptive, Rtol = 0.01, Atol = 0.001, Eta = 0.5 }, config);
        config.AdditionalKeys["order"] = System.Text.Json.JsonSerializer.SerializeToElement("three");
        Assert.Multiple(() =>
        {
            Assert.That(sampler.Options, Is.EqualTo(new AdaptiveDpmSolverOptions { Order = 2, HInit = 0.2, Rtol = 0.01, Atol = 0.001, Eta = 0.5 }));
            Assert.That(Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.Create(new SamplingOptions { Sampler = SamplerNames.DpmAdaptive }, config))!.Key, Is.EqualTo("order"));
        });
    }

    [Test]
    public void ALoopThatNeverFinishesStopsAtItsEvaluationCap()
    {
        var sampler = new DpmAdaptiveSampler(Sd, new AdaptiveDpmSolverOptions { Rtol = 1e-6, Atol = 1e-7 });
        sampler.SetTimesteps(10);
        using var network = new GaussianNetwork(PredictionType.Epsilon, Sd);
        var loop = new SamplingLoop { Sampler = sampler, Denoiser = network, MaxModelEvaluations = 12 };
        var e = Assert.Throws<SamplerFailedException>(() => loop.Run(Noise(16, sampler.InitNoiseSigma), new TensorShape(1, 1, 4, 4), new TorchGaussianNoise(1), default, default, CancellationToken.None))!;
        Assert.That(e.Message, Does.Contain("12 model evaluations"));
        Assert.That(network.Calls, Is.EqualTo(12));
    }

    [Test]
    public async Task TheCommandLineRunsItOnTheEmbeddedModel()
    {
        var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "adaptive-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var grid = Path.Combine(folder, "grid.png");
            var (code, stdout, stderr) = await Diffusion.Sdk.Tests.Robustness.Cli.Run("--sampler", "dpm-adaptive", "--rtol", "0.1", "--atol", "0.02", "--steps", "9", "--batch", "2", "--out", grid);
            Assert.Multiple(() =>
            {
                Assert.That(code, Is.Zero, stderr);
                Assert.That(File.ReadAllBytes(grid).Take(4), Is.EqualTo(new byte[] { 137, 80, 78, 71 }));
                Assert.That(stdout, Does.Contain("dpm-adaptive, rtol 0.1, atol 0.02").And.Contain("model calls").And.Contain("σ = "));
                Assert.That(stderr, Does.Contain("--steps has no effect"));
            });
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
