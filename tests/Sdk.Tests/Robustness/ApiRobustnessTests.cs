using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>
/// Bad input through the library API: each is a typed exception, raised before any work, whose one-line message
/// names the option or key, the value and what is allowed (no "(Parameter …)" suffix).
/// </summary>
[TestFixture]
public sealed class ApiRobustnessTests
{
    private static DiffusionPipeline Pipeline(ClosedFormModel? model = null) => new(model ?? new ClosedFormModel(), TestHost.Factory);

    private static void AssertOneLine(Exception e, params string[] mentions)
    {
        Assert.That(e.Message, Does.Not.Contain("\n").And.Not.Contain("(Parameter "), e.Message);
        foreach (var mention in mentions) Assert.That(e.Message, Does.Contain(mention), e.Message);
    }

    public static IEnumerable<TestCaseData> BadOptions()
    {
        yield return new TestCaseData(new SamplingOptions { Steps = 0 }, "Steps").SetName("Steps = 0");
        yield return new TestCaseData(new SamplingOptions { Steps = -3 }, "Steps").SetName("Steps = -3");
        yield return new TestCaseData(new SamplingOptions { GuidanceScale = double.NaN }, "GuidanceScale").SetName("GuidanceScale = NaN");
        yield return new TestCaseData(new SamplingOptions { GuidanceScale = 1e30 }, "GuidanceScale").SetName("GuidanceScale = 1e30");
        yield return new TestCaseData(new SamplingOptions { GuidanceRescale = -0.1 }, "GuidanceRescale").SetName("GuidanceRescale = -0.1");
        yield return new TestCaseData(new SamplingOptions { Temperature = 0 }, "Temperature").SetName("Temperature = 0");
        yield return new TestCaseData(new SamplingOptions { Temperature = double.PositiveInfinity }, "Temperature").SetName("Temperature = inf");
        yield return new TestCaseData(new SamplingOptions { NoiseInjection = 1e30 }, "NoiseInjection").SetName("NoiseInjection = 1e30");
        yield return new TestCaseData(new SamplingOptions { Eta = 1e6 }, "Eta").SetName("Eta = 1e6");
        yield return new TestCaseData(new SamplingOptions { SolverOrder = 4 }, "SolverOrder").SetName("SolverOrder = 4");
        yield return new TestCaseData(new SamplingOptions { BetaStart = double.NaN }, "BetaStart").SetName("BetaStart = NaN blames BetaStart");
        yield return new TestCaseData(new SamplingOptions { BetaStart = 0.5, BetaEnd = 0.1 }, "BetaEnd").SetName("BetaEnd below BetaStart");
        yield return new TestCaseData(new SamplingOptions { NumTrainTimesteps = 2_000_000_000 }, "NumTrainTimesteps").SetName("NumTrainTimesteps = 2e9");
        yield return new TestCaseData(new SamplingOptions { Sampler = " " }, "Sampler").SetName("Sampler = blank");
        yield return new TestCaseData(new SamplingOptions { Sampler = "pndm", UseKarrasSigmas = true }, "UseKarrasSigmas").SetName("Karras with pndm");
        yield return new TestCaseData(new SamplingOptions { DynamicThresholdingRatio = 0 }, "DynamicThresholdingRatio").SetName("DynamicThresholdingRatio = 0");
    }

    [TestCaseSource(nameof(BadOptions))]
    public void AnInvalidSamplingOptionIsATypedErrorNamingIt(SamplingOptions options, string option)
    {
        var error = Assert.Throws<SamplingOptionException>(() => Pipeline().Generate(new GenerationRequest { Sampling = options, ClassLabel = 1 }))!;
        Assert.That(error.Option, Is.EqualTo(option));
        AssertOneLine(error, option);
    }

    public static IEnumerable<TestCaseData> BadRequests()
    {
        yield return new TestCaseData(new GenerationRequest { BatchSize = 0 }, "BatchSize").SetName("BatchSize = 0");
        yield return new TestCaseData(new GenerationRequest { BatchSize = int.MaxValue, ClassLabel = 1 }, "BatchSize").SetName("BatchSize = int.MaxValue");
        yield return new TestCaseData(new GenerationRequest { BatchSize = 200_000_000, ClassLabel = 1 }, "BatchSize").SetName("BatchSize whose tensors overflow int");
        yield return new TestCaseData(new GenerationRequest { ClassLabel = 7 }, "ClassLabel").SetName("ClassLabel outside the classes");
        yield return new TestCaseData(new GenerationRequest { ClassLabel = -1 }, "ClassLabel").SetName("ClassLabel = -1");
        yield return new TestCaseData(new GenerationRequest { BatchSize = 2, ClassLabels = [0, 1, 1] }, "ClassLabels").SetName("ClassLabels of the wrong count");
        yield return new TestCaseData(new GenerationRequest { Height = 8, ClassLabel = 1 }, "Height").SetName("Height on a fixed model");
        yield return new TestCaseData(new GenerationRequest { InitImage = new float[5], ClassLabel = 1 }, "InitImage").SetName("InitImage of the wrong length");
        yield return new TestCaseData(new GenerationRequest { InitImage = new float[16], Strength = 0, ClassLabel = 1 }, "Strength").SetName("Strength = 0");
        yield return new TestCaseData(new GenerationRequest { EncoderHiddenStates = new float[4], ClassLabel = 1 }, "EncoderHiddenStates").SetName("EncoderHiddenStates for a class model");
    }

    [TestCaseSource(nameof(BadRequests))]
    public void ARequestThatDoesNotFitIsATypedErrorNamingTheProperty(GenerationRequest request, string property)
    {
        var error = Assert.Throws<SamplingOptionException>(() => Pipeline().Generate(request))!;
        Assert.That(error.Option, Is.EqualTo(property));
        AssertOneLine(error, property);
    }

    [Test]
    public void ABatchIsMeasuredAgainstTheMemoryAvailable()
    {
        Assert.That(BatchMemory.Check(100, 1, 28, 28, guided: true, availableBytes: 1L << 30).Batch, Is.EqualTo(100));
        var error = Assert.Throws<SamplingOptionException>(() => BatchMemory.Check(100_000, 1, 28, 28, guided: true, availableBytes: 1L << 30))!;
        AssertOneLine(error, "BatchSize", "100000", "1 GiB available");
    }

    public static IEnumerable<TestCaseData> BadConfigs()
    {
        yield return new TestCaseData(new SchedulerConfig { NumTrainTimesteps = 2_000_000_000 }, "num_train_timesteps").SetName("num_train_timesteps = 2e9");
        yield return new TestCaseData(new SchedulerConfig { NumTrainTimesteps = 0 }, "num_train_timesteps").SetName("num_train_timesteps = 0");
        yield return new TestCaseData(new SchedulerConfig { BetaStart = double.NaN }, "beta_start").SetName("beta_start = NaN blames beta_start");
        yield return new TestCaseData(new SchedulerConfig { BetaEnd = double.PositiveInfinity }, "beta_end").SetName("beta_end = inf");
        yield return new TestCaseData(new SchedulerConfig { BetaStart = 0.02, BetaEnd = 0.01 }, "beta_end").SetName("beta_end below beta_start");
        yield return new TestCaseData(new SchedulerConfig { SolverOrder = 0 }, "solver_order").SetName("solver_order = 0");
        yield return new TestCaseData(new SchedulerConfig { ClipSampleRange = double.NaN }, "clip_sample_range").SetName("clip_sample_range = NaN");
    }

    [TestCaseSource(nameof(BadConfigs))]
    public void AnInvalidSchedulerConfigurationIsATypedErrorNamingTheKey(SchedulerConfig config, string key)
    {
        var error = Assert.Throws<SchedulerConfigException>(() => config.Validate())!;
        Assert.That(error.Key, Is.EqualTo(key));
        AssertOneLine(error, key);
    }

    [TestCase("{ \"num_train_timesteps\": 2000000000 }", "num_train_timesteps")]
    [TestCase("{ \"num_train_timesteps\": ", "scheduler")]
    [TestCase("[1, 2]", "scheduler")]
    public void ABrokenSchedulerConfigFileIsATypedOneLineError(string json, string mention)
    {
        var folder = PluginCompiler.NewFolder();
        try
        {
            var file = Path.Combine(folder, "scheduler_config.json");
            File.WriteAllText(file, json);
            var error = Assert.Throws<SchedulerConfigException>(() => TestHost.Factory.CreateFromFile(file, "ddim"))!;
            Assert.That(error.Message, Does.Contain(mention).IgnoreCase);
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [TestCase(float.PositiveInfinity)]
    [TestCase(float.NegativeInfinity)]
    [TestCase(3e37f)] // finite, but its square (and a batch's sum) overflows: the run has diverged
    public void ADivergingSampleStopsTheRunNamingStepAndTensor(float value)
    {
        var model = new ClosedFormModel(inner => new Blowup(inner, value));
        var error = Assert.Throws<NonFiniteValueException>(() => Pipeline(model).Generate(new GenerationRequest
        {
            Sampling = new SamplingOptions { Sampler = "ddim", Steps = 5 }, BatchSize = 4, ClassLabel = 1,
        }))!;
        Assert.That(error.Step, Is.Zero);
        AssertOneLine(error, "Step 0", "element");
    }

    [Test]
    public void TheGuardPassesOrdinaryValuesAndCatchesEveryBadOne()
    {
        Assert.That(TensorChecks.FirstOutOfRange([1f, -80f, 1e6f]), Is.EqualTo(-1));
        Assert.That(TensorChecks.FirstOutOfRange([1f, float.NaN]), Is.EqualTo(1));
        Assert.That(TensorChecks.FirstOutOfRange([1f, 2f, -2e18f]), Is.EqualTo(2));
        var overflowingSum = Enumerable.Repeat(1e17f, 1000).Concat([float.MaxValue]).ToArray();
        Assert.That(TensorChecks.FirstOutOfRange(overflowingSum), Is.EqualTo(1000));
    }

    [Test]
    public void SizesNeverOverflowSilently()
    {
        Assert.Throws<OverflowException>(() => _ = new TensorShape(5_478_275, 1, 28, 28).Length);
        var grid = Assert.Throws<ArgumentOutOfRangeException>(() => ImageEncoder.GridSize(new TensorShape(100, 1, 28, 28), 100_000_000))!;
        Assert.That(grid.Message, Does.Contain("100 images").And.Contain("pixels"));
        Assert.That(ImageEncoder.GridSize(new TensorShape(100, 1, 28, 28), 10), Is.EqualTo((302, 302)));
    }

    // A model whose output is a bad value everywhere from the first call.
    private sealed class Blowup(IDenoiser inner, float value) : IDenoiser
    {
        public int? FixedBatchSize => inner.FixedBatchSize;
        public void Dispose() => inner.Dispose();
        public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default)
        {
            inner.Predict(input, output, cancellationToken);
            output.Fill(value);
        }
    }
}
