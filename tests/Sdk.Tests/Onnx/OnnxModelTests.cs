using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Tests.Models;
using static Diffusion.Sdk.Tests.Onnx.OnnxTestModels;

namespace Diffusion.Sdk.Tests.Onnx;

/// <summary>
/// Every closed-form network of the manifest loaded through <see cref="OnnxDiffusionModel"/> (single file + options),
/// its <see cref="ModelInfo"/> read from the ONNX metadata, and its denoiser's output compared with
/// <see cref="ClosedFormReference"/>.
/// </summary>
[TestFixture]
public class OnnxModelTests
{
    // Integral, fractional (rounded for integer timesteps, .5 rounds up), the ends of the schedule.
    private static readonly double[] Timesteps = [0, 999, 500.5, 250.25, 37.5];

    [TestCaseSource(typeof(OnnxTestModels), nameof(Files))]
    public void EveryManifestModel_LoadsWithTheRightInfo(string file)
    {
        var spec = Get(file);
        using var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        var info = model.Info;
        Assert.Multiple(() =>
        {
            Assert.That(info.Source, Is.EqualTo(Path.GetFullPath(spec.Path)));
            Assert.That(info.Channels, Is.EqualTo(spec.Channels));
            Assert.That(info.Height, Is.Null, "height is dynamic");
            Assert.That(info.Width, Is.Null, "width is dynamic");
            Assert.That(info.FixedBatchSize, Is.EqualTo(spec.FixedBatch));
            Assert.That(info.HasClassLabels, Is.EqualTo(spec.HasLabels));
            Assert.That(info.UnconditionalLabel, Is.EqualTo(spec.UnconditionalLabel));
            Assert.That(info.EncoderHiddenStatesLength, Is.EqualTo(spec.HasHiddenStates ? 77 * 8 : (int?)null));
            Assert.That(model.SchedulerConfig, Is.Not.Null);
            Assert.That(model.SchedulerConfig!.NumTrainTimesteps, Is.EqualTo(1000));
            Assert.That(model.SchedulerConfig.PredictionType, Is.EqualTo(ParsePredictionType(spec.PredictionType)));
            Assert.That(model.ExecutionProvider, Is.EqualTo(OnnxExecutionProvider.Cpu));
            Assert.That(model.ModelPath, Is.EqualTo(Path.GetFullPath(spec.Path)));
            Assert.That(model.Components, Is.Empty);
            Assert.That(model.CreateDenoiser().FixedBatchSize, Is.EqualTo(spec.FixedBatch));
        });
    }

    [TestCaseSource(typeof(OnnxTestModels), nameof(Files))]
    public void EveryManifestModel_PredictsTheClosedFormOnABatchOfThree(string file)
    {
        var spec = Get(file);
        using var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        var denoiser = model.CreateDenoiser();
        var worst = 0.0;
        var seed = 100;
        foreach (var t in Timesteps)
        {
            var request = MakeRequest(spec, batch: 3, t, seed++);
            var output = new float[request.Sample.Length];
            denoiser.Predict(request.Input, output);
            var error = WorstError(spec, output, Expected(spec, request));
            Assert.That(error, Is.LessThanOrEqualTo(Tolerance(spec)), $"{file} at t = {t} (fed {FedTimestep(spec, t)})");
            worst = Math.Max(worst, error);
        }
        TestContext.Out.WriteLine($"{file}: max error {worst:G3}");
    }

    [Test]
    public void IntegerTimesteps_AreRoundedToTheNearestInteger_HalvesAwayFromZero()
    {
        Assert.Multiple(() =>
        {
            Assert.That(TimestepTensor.RoundToInteger(250.5), Is.EqualTo(251));
            Assert.That(TimestepTensor.RoundToInteger(250.49), Is.EqualTo(250));
            Assert.That(TimestepTensor.RoundToInteger(251.5), Is.EqualTo(252));
            Assert.That(TimestepTensor.RoundToInteger(999), Is.EqualTo(999));
            Assert.That(TimestepTensor.RoundToInteger(0.2), Is.EqualTo(0));
        });

        // The network really sees 251 for 250.5: its output matches the reference at 251, not at 250.
        var spec = Get("gaussian-eps-t-int64-b.onnx");
        using var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        var request = MakeRequest(spec, 2, 250.5, seed: 7);
        var output = new float[request.Sample.Length];
        model.CreateDenoiser().Predict(request.Input, output);
        Assert.That(WorstError(spec, output, Expected(spec, request with { Timestep = 251 })), Is.LessThan(1e-5));
        Assert.That(WorstError(spec, output, Expected(spec, request with { Timestep = 250 })), Is.GreaterThan(1e-4));
    }

    [Test]
    public void RenamedModel_IsDiscoveredByFallback()
    {
        var spec = Get("gaussian-eps-renamed.onnx");
        Assert.That(spec.Inputs["sample"].Name, Is.EqualTo("x"));
        using var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        Assert.That(model.Signature.SampleName, Is.EqualTo("x"));
        Assert.That(model.Signature.TimestepName, Is.EqualTo("t"));
        Assert.That(model.Signature.OutputName, Is.EqualTo("eps"));
        AssertMatchesReference(spec, model);
    }

    [Test]
    public void RenamedModel_LoadsWithExplicitNames()
    {
        var spec = Get("gaussian-eps-renamed.onnx");
        var options = spec.Options();
        options.SampleInput = "x";
        options.TimestepInput = "t";
        options.Output = "eps";
        using var model = OnnxDiffusionModel.Load(spec.Path, options);
        AssertMatchesReference(spec, model);
    }

    [Test]
    public void AnExplicitNameThatIsNotThere_IsATypedErrorListingTheInputs()
    {
        var spec = Get("gaussian-eps-renamed.onnx");
        var options = spec.Options();
        options.SampleInput = "sample";
        var error = Assert.Throws<ModelLoadException>(() => OnnxDiffusionModel.Load(spec.Path, options))!;
        Assert.That(error.Message, Does.Contain("gaussian-eps-renamed.onnx").And.Contain("no input named 'sample'")
            .And.Contain("'x': float32 [batch, 1, height, width]").And.Contain("'t': float32 [batch]").And.Contain("--sample-input"));

        options = spec.Options();
        options.Output = "out_sample";
        error = Assert.Throws<ModelLoadException>(() => OnnxDiffusionModel.Load(spec.Path, options))!;
        Assert.That(error.Message, Does.Contain("no output named 'out_sample'").And.Contain("'eps'"));
    }

    [Test]
    public void NamingTheSampleAsTheTimestep_IsATypedErrorAboutItsShape()
    {
        var spec = Get("gaussian-eps.onnx");
        var options = spec.Options();
        options.TimestepInput = "sample";
        options.SampleInput = "timestep";
        var error = Assert.Throws<ModelLoadException>(() => OnnxDiffusionModel.Load(spec.Path, options))!;
        Assert.That(error.Message, Does.Contain("gaussian-eps.onnx").And.Contain("sample input 'timestep'").And.Contain("rank-4"));
    }

    [Test]
    public void ExternalDataModel_LoadsItsWeightsFromBesideTheFile()
    {
        var spec = Get("gaussian-eps-external/model.onnx");
        Assert.That(File.Exists(Path.Combine(Path.GetDirectoryName(spec.Path)!, "model.onnx_data")), Is.True);
        using var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        AssertMatchesReference(spec, model);
    }

    [Test]
    public void ExternalDataModel_WithoutItsDataFile_IsATypedErrorNamingTheFile()
    {
        using var temp = new TempFolder();
        var copy = temp.File("model.onnx");
        File.Copy(Get("gaussian-eps-external/model.onnx").Path, copy);
        var error = Assert.Throws<ModelLoadException>(() => OnnxDiffusionModel.Load(copy))!;
        Assert.That(error.Message, Does.Contain(copy).And.Contain("external weight data"));
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(5)]
    public void FixedBatchModel_PadsSmallerBatchesAndSplitsLargerOnes(int batch)
    {
        var spec = Get("gaussian-eps-fixed-batch2.onnx");
        using var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        Assert.That(model.Info.FixedBatchSize, Is.EqualTo(2));
        var denoiser = model.CreateDenoiser();
        foreach (var t in new[] { 10.0, 640.5 })
        {
            var request = MakeRequest(spec, batch, t, seed: batch);
            var output = new float[request.Sample.Length + 7];
            output.AsSpan().Fill(float.NaN);
            denoiser.Predict(request.Input, output.AsSpan(0, request.Sample.Length));
            Assert.That(WorstError(spec, output.AsSpan(0, request.Sample.Length), Expected(spec, request)), Is.LessThan(1e-5), $"batch {batch}, t = {t}");
            Assert.That(output.Skip(request.Sample.Length), Is.All.NaN, "nothing is written past the request's items");
        }
    }

    [Test]
    public void Float16Model_IsFedAndReadThroughConversions()
    {
        var spec = Get("gaussian-eps-fp16.onnx");
        using var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        Assert.That(model.Signature.SampleType, Is.EqualTo(Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float16));
        Assert.That(model.Signature.OutputType, Is.EqualTo(Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float16));
        AssertMatchesReference(spec, model);
    }

    [Test]
    public void MixtureModel_FeedsClassLabels_AndTheUnconditionalLabelMixesTheComponents()
    {
        var spec = Get("mixture-eps.onnx");
        using var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        var denoiser = model.CreateDenoiser();
        var request = MakeRequest(spec, 3, 400, seed: 3);
        foreach (var labels in new long[][] { [0, 0, 0], [1, 1, 1], [2, 2, 2], [1, 2, 0] })
        {
            var r = request with { Labels = labels };
            var output = new float[r.Sample.Length];
            denoiser.Predict(r.Input, output);
            Assert.That(WorstError(spec, output, Expected(spec, r)), Is.LessThan(1e-5), string.Join(",", labels));
        }
    }

    [Test]
    public void ClassifierFreeGuidance_AroundTheOnnxDenoiser_CombinesConditionalAndUnconditionalPasses()
    {
        var spec = Get("mixture-eps.onnx");
        using var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        var request = MakeRequest(spec, 3, 600, seed: 11) with { Labels = [0, 1, 0] };
        var guided = new ClassifierFreeGuidance(model.CreateDenoiser(), scale: 3, unconditionalLabel: model.Info.UnconditionalLabel!.Value);
        var output = new float[request.Sample.Length];
        guided.Predict(request.Input, output);

        var cond = Expected(spec, request);
        var uncond = Expected(spec, request with { Labels = [2, 2, 2] });
        var expected = cond.Select((c, i) => uncond[i] + 3 * (c - uncond[i])).ToArray();
        Assert.That(WorstError(spec, output, expected), Is.LessThan(1e-4));
        Assert.That(guided.Evaluations, Is.EqualTo(1), "one batch of 2B for a dynamic-batch model");
    }

    [Test]
    public void EncoderHiddenStates_AreFed()
    {
        var spec = Get("gaussian-eps-ehs.onnx");
        using var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        Assert.That(model.Info.EncoderHiddenStatesLength, Is.EqualTo(77 * 8));
        AssertMatchesReference(spec, model);

        var request = MakeRequest(spec, 2, 100, seed: 5);
        var output = new float[request.Sample.Length];
        var error = Assert.Throws<ModelInputException>(() => model.CreateDenoiser().Predict(new DenoiserInput(request.Sample, request.Shape, 100), output))!;
        Assert.That(error.Message, Does.Contain("gaussian-eps-ehs.onnx").And.Contain("text-conditioned").And.Contain("77×8 = 616"));
        error = Assert.Throws<ModelInputException>(() => model.CreateDenoiser().Predict(new DenoiserInput(request.Sample, request.Shape, 100, default, new float[2 * 8]), output))!;
        Assert.That(error.Message, Does.Contain("8 encoder-hidden-state values per item"));
    }

    [Test]
    public void ABareFileWithoutSchedulerFacts_HasNoSchedulerConfig_AndSaysSo()
    {
        var logger = new ListLogger();
        using var model = OnnxDiffusionModel.Load(Get("gaussian-eps.onnx").Path, logger: logger);
        Assert.That(model.SchedulerConfig, Is.Null);
        Assert.That(logger.Warnings, Has.Some.Contain("no scheduler configuration").And.Some.Contain("PredictionType"));
    }

    [Test]
    public void AnExplicitSchedulerConfig_IsCopied_AndOverriddenByThePredictionType()
    {
        var given = new SchedulerConfig { ClassName = "DDIMScheduler", NumTrainTimesteps = 500, BetaEnd = 0.012 };
        var options = new OnnxModelOptions { SchedulerConfig = given, PredictionType = PredictionType.VPrediction };
        using var model = OnnxDiffusionModel.Load(Get("gaussian-v.onnx").Path, options);
        Assert.That(model.SchedulerConfig, Is.Not.SameAs(given));
        Assert.That(model.SchedulerConfig!.ClassName, Is.EqualTo("DDIMScheduler"));
        Assert.That(model.SchedulerConfig.NumTrainTimesteps, Is.EqualTo(500));
        Assert.That(model.SchedulerConfig.BetaEnd, Is.EqualTo(0.012));
        Assert.That(model.SchedulerConfig.PredictionType, Is.EqualTo(PredictionType.VPrediction));
        Assert.That(given.PredictionType, Is.EqualTo(PredictionType.Epsilon), "the caller's object is not changed");
    }

    [Test]
    public void SessionOptions_ThreadsAndOptimizationLevel_AreApplied()
    {
        var spec = Get("mixture-v.onnx");
        var options = spec.Options();
        options.IntraOpThreads = 1;
        options.InterOpThreads = 2;
        options.GraphOptimizationLevel = OnnxGraphOptimizationLevel.None;
        var seen = new List<string>();
        options.ConfigureSession = so => seen.Add($"{so.IntraOpNumThreads} {so.InterOpNumThreads} {so.GraphOptimizationLevel} {so.ExecutionMode}");
        using var model = OnnxDiffusionModel.Load(spec.Path, options);
        Assert.That(seen, Is.EqualTo(new[] { "1 2 ORT_DISABLE_ALL ORT_PARALLEL" }));
        AssertMatchesReference(spec, model);
    }

    [Test]
    public void SessionOptions_Defaults_AreTheMeasuredFastest()
    {
        // docs/benchmarks.md, "ONNX Runtime settings on the CPU": one explicit thread per logical core (ONNX Runtime's
        // own default pins its threads), sequential mode, all graph optimizations, arena and memory pattern on.
        var spec = Get("mixture-v.onnx");
        var seen = new List<string>();
        var options = spec.Options();
        options.ConfigureSession = so => seen.Add($"{so.IntraOpNumThreads} {so.ExecutionMode} {so.GraphOptimizationLevel} {so.EnableCpuMemArena} {so.EnableMemoryPattern}");
        using (OnnxDiffusionModel.Load(spec.Path, options)) { }
        Assert.That(seen, Is.EqualTo(new[] { $"{Environment.ProcessorCount} ORT_SEQUENTIAL ORT_ENABLE_ALL True True" }));

        // 0 still asks for ONNX Runtime's own default; the other switches reach the session.
        seen.Clear();
        options.IntraOpThreads = 0;
        options.EnableMemoryArena = false;
        options.EnableMemoryPattern = false;
        options.AllowSpinning = true;
        options.DenormalsAsZero = true;
        options.ExecutionMode = OnnxExecutionMode.Parallel;
        using var model = OnnxDiffusionModel.Load(spec.Path, options);
        Assert.That(seen, Is.EqualTo(new[] { "0 ORT_PARALLEL ORT_ENABLE_ALL False False" }));
        AssertMatchesReference(spec, model);
    }

    private static void AssertMatchesReference(Spec spec, OnnxDiffusionModel model)
    {
        var denoiser = model.CreateDenoiser();
        var seed = 40;
        foreach (var t in Timesteps)
        {
            var request = MakeRequest(spec, 3, t, seed++);
            var output = new float[request.Sample.Length];
            denoiser.Predict(request.Input, output);
            Assert.That(WorstError(spec, output, Expected(spec, request)), Is.LessThanOrEqualTo(Tolerance(spec)), $"{spec.File} at t = {t}");
        }
    }
}
