using System.Text.Json;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers;

/// <summary>
/// CFG++ (Chung et al. 2024) in Euler, Euler ancestral and DPM++ 2M: ComfyUI's trajectories
/// (TestData/cfgpp/comfyui-cfgpp.json, from tools/cfgpp-reference/make_reference.py), exact answers on closed-form
/// Gaussian data, and the contract: only a run whose guidance keeps the unconditional output passes it, only a sampler
/// that can use it is given it, and anything else is refused before the first model call.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class CfgPlusPlusTests
{
    private static readonly SchedulerConfig StableDiffusion = new() { BetaSchedule = BetaSchedule.ScaledLinear, BetaStart = 0.00085, BetaEnd = 0.012 };

    private static readonly Lazy<JsonElement> Reference = new(() =>
        JsonDocument.Parse(File.ReadAllText(TestData.Path("cfgpp", "comfyui-cfgpp.json"))).RootElement);

    public static IEnumerable<TestCaseData> ReferenceCases()
    {
        var cases = Reference.Value.GetProperty("cases");
        for (var k = 0; k < cases.GetArrayLength(); k++)
        {
            var c = cases[k];
            yield return new TestCaseData(k).SetName($"MatchesComfyUi({c.GetProperty("comfyui").GetString()}, λ {c.GetProperty("lambda").GetDouble()}, {c.GetProperty("steps").GetInt32()} steps)");
        }
    }

    // ---- ComfyUI's trajectories ------------------------------------------------------------------------------

    /// <remarks>
    /// Tolerance 2e-5 + 2e-5·|x|: the same float32 formula rounded along another path. The SDK forms x̂₀ from the ε
    /// output (ComfyUI from its x̂₀), guides in ε (ComfyUI in x̂₀), and DPM-Solver steps the variance-preserving sample
    /// with float32 α, σ_t and λ (ComfyUI e^{−h} of the variance-exploding one), each a few float32 units (6e-8·|x|)
    /// per operation; the steps contract errors (x moves toward x̂₀), so they do not grow over the run. Measured: below
    /// 3e-6 + 3e-6·|x| on every step of every case.
    /// </remarks>
    [TestCaseSource(nameof(ReferenceCases))]
    public void MatchesComfyUi(int index)
    {
        var c = Reference.Value.GetProperty("cases")[index];
        var name = c.GetProperty("sampler").GetString()!;
        var sigmas = Doubles(c.GetProperty("sigmas"));
        var xT = Floats(c.GetProperty("x_T"));
        var noise = c.GetProperty("noise").EnumerateArray().Select(Floats).ToArray();
        var expected = c.GetProperty("samples").EnumerateArray().Select(Doubles).ToArray();

        var sampler = Create(name, sigmas);
        var actual = Run(sampler, xT, c.GetProperty("lambda").GetDouble(), Data(Reference.Value.GetProperty("cond")), Data(Reference.Value.GetProperty("uncond")),
            new RecordedNoise(noise), cfgPlusPlus: true);

        Assert.That(actual, Has.Count.EqualTo(expected.Length));
        for (var k = 0; k < expected.Length; k++)
            Tolerance.AssertClose(actual[k], expected[k], $"{name} step {k}", abs: 2e-5, rel: 2e-5);
    }

    // ---- exact answers -----------------------------------------------------------------------------------------

    [TestCase(SamplerNames.Euler)]
    [TestCase(SamplerNames.EulerAncestral)]
    [TestCase(SamplerNames.DpmSolver)]
    public void LambdaZeroIsPlainSamplingOfTheUnconditionalModel(string name)
    {
        // λ = 0: x̂₀ = x̂₀ᵘ, so x̂₀ + σ'·(x − x̂₀ᵘ)/σ is the plain step on the unconditional model (the same in DPM++ 2M,
        // whose history then holds the unconditional x̂₀ either way). Equal up to the rounding of the two forms.
        var sigmas = SigmaMath.Karras(0.0292, 14.6146, 12).Append(0).ToArray();
        var x = Gaussian(7, 16, 14.6146f);
        var (cond, uncond) = (Data(0.8, 0.3), Data(-0.2, 1.0));
        var cfgpp = Run(Create(name, sigmas), x, 0, cond, uncond, new TorchGaussianNoise(11), cfgPlusPlus: true);
        var plain = Run(Create(name, sigmas), x, null, uncond, uncond, new TorchGaussianNoise(11), cfgPlusPlus: false);
        for (var k = 0; k < plain.Count; k++)
            Tolerance.AssertClose(cfgpp[k], plain[k].Select(v => (double)v).ToArray(), $"{name} step {k}", abs: 1e-5, rel: 1e-5);
    }

    [TestCase(SamplerNames.Euler, 0.6)]
    [TestCase(SamplerNames.EulerAncestral, 0.6)]
    [TestCase(SamplerNames.DpmSolver, 0.6)]
    [TestCase(SamplerNames.DpmSolver, 1.0)]
    public void WithEqualConditionalAndUnconditionalModelsItIsPlainSampling(string name, double lambda)
    {
        // cond = uncond: the guided x̂₀ is the unconditional one for every λ, and CFG++ is the plain method.
        var sigmas = SigmaMath.Karras(0.0292, 14.6146, 15).Append(0).ToArray();
        var x = Gaussian(3, 16, 14.6146f);
        var data = Data(0.5, 0.4);
        var cfgpp = Run(Create(name, sigmas), x, lambda, data, data, new TorchGaussianNoise(5), cfgPlusPlus: true);
        var plain = Run(Create(name, sigmas), x, null, data, data, new TorchGaussianNoise(5), cfgPlusPlus: false);
        for (var k = 0; k < plain.Count; k++)
            Tolerance.AssertClose(cfgpp[k], plain[k].Select(v => (double)v).ToArray(), $"{name} step {k}", abs: 1e-5, rel: 1e-5);
    }

    [TestCase(SamplerNames.Euler, 1000, 3e-3)]
    [TestCase(SamplerNames.DpmSolver, 200, 1.5e-3)]
    public void LambdaZeroFollowsTheUnconditionalProbabilityFlowExactly(string name, int steps, double tolerance)
    {
        // For N(μ, s²) data the probability flow takes x_T at σ_max to μ + (x_T − μ)·√(s² + σ²)/√(s² + σ_max²) at σ,
        // whatever the conditional model: compared at σ_min, the last level before the final jump to x̂₀. What is left is
        // the method's own error (Euler first order, DPM++ 2M second order: for |x_T| = 40 the same
        // methods are 2.7e-3 and 1.2e-3 away at 1000 and 200 steps).
        // Euler on log-uniform σ; DPM-Solver on its own timesteps (any σ list dense enough crowds its whole timesteps).
        var sigmas = SigmaMath.Exponential(0.0292, 14.6146, steps).Append(0).ToArray();
        var sampler = name == SamplerNames.DpmSolver ? Create(name, steps) : Create(name, sigmas);
        var x = Gaussian(9, 16, 14.6146f);
        var (cond, uncond) = (Data(0.8, 0.3), Data(-0.2, 0.7));
        var atSigmaMin = Run(sampler, x, 0, cond, uncond, new TorchGaussianNoise(1), cfgPlusPlus: true)[^2];
        double sigmaMax = sampler.Sigmas[0], sigmaMin = sampler.Sigmas[^2];
        var worst = 0.0;
        for (var i = 0; i < x.Length; i++)
        {
            var exact = -0.2 + (x[i] - -0.2) * Math.Sqrt((0.49 + sigmaMin * sigmaMin) / (0.49 + sigmaMax * sigmaMax));
            worst = Math.Max(worst, Math.Abs(atSigmaMin[i] - exact));
        }
        Assert.That(worst, Is.LessThanOrEqualTo(tolerance), "the largest distance from the exact flow");
        TestContext.Out.WriteLine($"{name}, {steps} steps: {worst:E2} from the exact flow");
    }

    [Test]
    public void AStepIsTheClosedFormOfTheMethod()
    {
        // One Euler CFG++ step from x at σ = 2 to σ' = 1, λ = 0.7, against x̂₀ + σ'·(x − x̂₀ᵘ)/σ in double.
        double[] sigmas = [2, 1, 0];
        var x = Gaussian(4, 16, 2f);
        var (cond, uncond) = (Data(0.8, 0.3), Data(-0.2, 1.0));
        var after = Run(Create(SamplerNames.Euler, sigmas), x, 0.7, cond, uncond, new TorchGaussianNoise(1), cfgPlusPlus: true)[0];
        for (var i = 0; i < x.Length; i++)
        {
            double dc = 0.8 + 0.09 / 4.09 * (x[i] - 0.8), du = -0.2 + 1.0 / 5.0 * (x[i] + 0.2);
            var expected = du + 0.7 * (dc - du) + 1.0 * (x[i] - du) / 2.0;
            Assert.That(after[i], Is.EqualTo(expected).Within(1e-5), $"element {i}");
        }
    }

    // ---- the contract ------------------------------------------------------------------------------------------

    [TestCase(SamplerNames.Ddim)]
    [TestCase(SamplerNames.Heun)]
    [TestCase(SamplerNames.Lms)]
    [TestCase(SamplerNames.UniPc)]
    public void ASamplerWithoutACfgPlusPlusStepIsRefusedNamingTheOption(string name)
    {
        var sampler = TestHost.Factory.Create(name, StableDiffusion);
        var error = Assert.Throws<SamplingOptionException>(() => CfgPlusPlusSupport.Check(sampler));
        Assert.That(error!.Option, Is.EqualTo(nameof(SamplingOptions.CfgPlusPlus)));
        Assert.That(error.Message, Does.Contain(name).And.Contain("euler"));
    }

    [TestCase("sde-dpmsolver++", 2, "dpmsolver++")]
    [TestCase("dpmsolver++", 3, "solver_order")]
    public void ADpmSolverConfigurationWithoutACfgPlusPlusFormIsRefused(string algorithm, int order, string hint)
    {
        var sampler = TestHost.Factory.Create(SamplerNames.DpmSolver, new SchedulerConfig { AlgorithmType = algorithm, SolverOrder = order });
        var error = Assert.Throws<SamplingOptionException>(() => CfgPlusPlusSupport.Check(sampler));
        Assert.That(error!.Message, Does.Contain(hint));
    }

    [Test]
    public void TheLoopRefusesASamplerThatCannotUseTheUnconditionalOutputBeforeAnyModelCall()
    {
        var sampler = (ISigmaSampler)TestHost.Factory.Create(SamplerNames.Heun, StableDiffusion);
        sampler.SetTimesteps(5);
        var pair = new GaussianPairDenoiser(sampler, [0.5], 0.5, [0], 1);
        var loop = new SamplingLoop { Sampler = sampler, Denoiser = new ClassifierFreeGuidance(pair, 0.5, unconditionalLabel: GaussianPairDenoiser.Unconditional) { KeepsUnconditionalOutput = true } };
        Assert.Throws<SamplingOptionException>(() => loop.Run(new float[16], new TensorShape(1, 1, 4, 4), new TorchGaussianNoise(0), [0], default, CancellationToken.None));
        Assert.That(pair.ItemEvaluations, Is.Zero);
    }

    [Test]
    public void PlainGuidanceGivesTheSamplerNoUnconditionalOutput()
    {
        var guidance = new ClassifierFreeGuidance(new ConstantDenoiser(), 3, unconditionalLabel: 1);
        var output = new float[4];
        guidance.Predict(new DenoiserInput(new float[4], new TensorShape(1, 1, 2, 2), 10, [0]), output);
        Assert.That(guidance.KeepsUnconditionalOutput, Is.False);
        Assert.That(guidance.UnconditionalOutput.IsEmpty, Is.True);
    }

    [Test]
    public void CfgPlusPlusGuidanceEvaluatesBothPassesAtScaleOneAndKeepsTheUnconditionalOne()
    {
        var inner = new ConstantDenoiser();
        var guidance = new ClassifierFreeGuidance(inner, 1, unconditionalLabel: 1) { KeepsUnconditionalOutput = true };
        var output = new float[4];
        guidance.Predict(new DenoiserInput(new float[4], new TensorShape(1, 1, 2, 2), 10, [0]), output);
        Assert.That(guidance.Evaluations, Is.EqualTo(1), "one batch of 2");
        Assert.That(inner.Items, Is.EqualTo(2), "conditional and unconditional items");
        Assert.That(guidance.UnconditionalOutput.ToArray(), Is.EqualTo(new[] { 1f, 1f, 1f, 1f }), "label 1's output");
        Assert.That(output, Is.EqualTo(new[] { 0f, 0f, 0f, 0f }), "w = 1: the conditional output (label 0)");
    }

    [TestCase(SamplerNames.Euler)]
    [TestCase(SamplerNames.EulerAncestral)]
    [TestCase(SamplerNames.DpmSolver)]
    public void AWarmCfgPlusPlusStepAllocatesNothing(string name)
    {
        var sigmas = SigmaMath.Karras(0.0292, 14.6146, 8).Append(0).ToArray();
        var sampler = Create(name, sigmas);
        var n = 16;
        var x = Gaussian(1, n, 14.6f);
        var output = new float[n];
        var unconditional = new float[n];
        for (var i = 0; i < n; i++) (output[i], unconditional[i]) = (0.1f * i, -0.05f * i);
        var next = new float[n];
        var noise = new TorchGaussianNoise(0);
        StepInput Input(int k) => new StepInput(output, sampler.Timesteps[k], x, 1) { UnconditionalOutput = unconditional };
        sampler.Step(Input(0), new StepOutput(next), noise);
        sampler.Step(Input(1), new StepOutput(next), noise); // the second order's first step
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var k = 2; k < 6; k++) sampler.Step(Input(k), new StepOutput(next), noise);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    [Test]
    public void AScaleAboveOneIsRefusedAsCfgPlusPlussLambda()
    {
        var options = new SamplingOptions { CfgPlusPlus = true, GuidanceScale = 7.5 };
        var error = Assert.Throws<SamplingOptionException>(() => options.Validate());
        Assert.That(error!.Option, Is.EqualTo(nameof(SamplingOptions.GuidanceScale)));
        Assert.That(error.Message, Does.Contain("[0, 1]"));
        Assert.DoesNotThrow(() => new SamplingOptions { CfgPlusPlus = true, GuidanceScale = 1 }.Validate());
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    private sealed record GaussianSpec(double[] Mean, double Std);

    private static GaussianSpec Data(double mean, double std) => new([mean], std);

    private static GaussianSpec Data(JsonElement e) => new(Doubles(e.GetProperty("mean")), e.GetProperty("std").GetDouble());

    // The sampler on the listed σ (the final 0 included for the sigma samplers; DPM-Solver appends its own).
    private static ISigmaSampler Create(string name, double[] sigmas)
    {
        var config = StableDiffusion.Clone();
        if (name == SamplerNames.DpmSolver) (config.AlgorithmType, config.SolverOrder, config.LowerOrderFinal) = ("dpmsolver++", 2, false);
        var sampler = (ISigmaSampler)TestHost.Factory.Create(name, config);
        sampler.SetSigmas(name == SamplerNames.DpmSolver ? sigmas[..^1] : sigmas);
        return sampler;
    }

    private static ISigmaSampler Create(string name, int steps)
    {
        var config = StableDiffusion.Clone();
        (config.AlgorithmType, config.SolverOrder, config.LowerOrderFinal) = ("dpmsolver++", 2, false);
        var sampler = (ISigmaSampler)TestHost.Factory.Create(name, config);
        sampler.SetTimesteps(steps);
        return sampler;
    }

    // Runs the loop from the variance-exploding x_T (λ null: no guidance, the conditional model alone) and returns the
    // variance-exploding sample after every step (DPM-Solver's variance-preserving one divided by α = 1/√(σ² + 1)).
    private static List<float[]> Run(ISigmaSampler sampler, float[] xT, double? lambda, GaussianSpec cond, GaussianSpec uncond, INoiseSource noise, bool cfgPlusPlus)
    {
        var vp = sampler.Name == SamplerNames.DpmSolver;
        var sigmas = sampler.Sigmas;
        var x = xT.ToArray();
        if (vp) for (var i = 0; i < x.Length; i++) x[i] = (float)(x[i] / Math.Sqrt(sigmas[0] * sigmas[0] + 1));
        var pair = new GaussianPairDenoiser(sampler, cond.Mean, cond.Std, uncond.Mean, uncond.Std);
        IDenoiser denoiser = lambda is { } scale
            ? new ClassifierFreeGuidance(pair, scale, unconditionalLabel: GaussianPairDenoiser.Unconditional) { KeepsUnconditionalOutput = cfgPlusPlus }
            : pair;
        var samples = new List<float[]>();
        new SamplingLoop
        {
            Sampler = sampler, Denoiser = denoiser,
            OnStep = (step, latents) =>
            {
                var sigma = sigmas[step.Index + 1];
                samples.Add(latents.ToArray().Select(v => vp ? (float)(v * Math.Sqrt(sigma * sigma + 1)) : v).ToArray());
            },
        }.Run(x, new TensorShape(1, 1, 4, 4), noise, [GaussianPairDenoiser.Conditional], default, CancellationToken.None);
        return samples;
    }

    private static float[] Gaussian(ulong seed, int n, float scale)
    {
        var x = new float[n];
        new TorchGaussianNoise(seed).NextGaussian(x);
        for (var i = 0; i < n; i++) x[i] *= scale;
        return x;
    }

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();

    // Label L's output is L everywhere.
    private sealed class ConstantDenoiser : IDenoiser
    {
        public int Items { get; private set; }

        public int? FixedBatchSize => null;

        public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default)
        {
            var length = input.Shape.ItemLength;
            for (var b = 0; b < input.Shape.Batch; b++, Items++) output.Slice(b * length, length).Fill(input.ClassLabels[b]);
        }

        public void Dispose() { }
    }
}
