using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Onnx;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.ML.OnnxRuntime;
using static Diffusion.Sdk.Tests.Onnx.OnnxTestModels;

namespace Diffusion.Sdk.Tests.Onnx;

/// <summary>Pipeline folders, typed load and request errors, execution providers and the DI registration.</summary>
[TestFixture]
public class OnnxLoadingTests
{
    private const string SchedulerJson = """
        {
          "_class_name": "DDIMScheduler",
          "_diffusers_version": "0.30.0",
          "num_train_timesteps": 1000,
          "beta_start": 0.0001,
          "beta_end": 0.02,
          "beta_schedule": "linear",
          "prediction_type": "v_prediction",
          "timestep_spacing": "trailing"
        }
        """;

    private const string ModelIndexJson = """
        {
          "_class_name": "DDIMPipeline",
          "_diffusers_version": "0.30.0",
          "scheduler": ["diffusers", "DDIMScheduler"],
          "unet": ["diffusers", "UNet2DModel"],
          "vae_decoder": ["diffusers", "OnnxRuntimeModel"]
        }
        """;

    /// <summary>A pipeline folder around mixture-v.onnx: model_index.json, scheduler config, unet/model.onnx and unet/config.json.</summary>
    private static TempFolder MixturePipeline(bool unetConfig = true)
    {
        var temp = new TempFolder();
        temp.File("model_index.json", ModelIndexJson);
        temp.File("scheduler/scheduler_config.json", SchedulerJson);
        File.Copy(Get("mixture-v.onnx").Path, temp.File("unet/model.onnx"));
        if (unetConfig) temp.File("unet/config.json", """{ "_class_name": "UNet2DModel", "num_classes": 2, "unconditional_class_label": 2, "in_channels": 1 }""");
        return temp;
    }

    [Test]
    public void PipelineFolder_LoadsTheUnetWithItsSchedulerAndUnetConfig()
    {
        using var temp = MixturePipeline();
        var logger = new ListLogger();
        using var model = OnnxDiffusionModel.Load(temp.Path, logger: logger);
        Assert.Multiple(() =>
        {
            Assert.That(model.Info.Source, Is.EqualTo(temp.Path));
            Assert.That(model.ModelPath, Is.EqualTo(Path.Combine(temp.Path, "unet", "model.onnx")));
            Assert.That(model.SchedulerConfig!.ClassName, Is.EqualTo("DDIMScheduler"));
            Assert.That(model.SchedulerConfig.PredictionType, Is.EqualTo(PredictionType.VPrediction));
            Assert.That(model.SchedulerConfig.TimestepSpacing, Is.EqualTo(TimestepSpacing.Trailing));
            Assert.That(model.Info.HasClassLabels, Is.True);
            Assert.That(model.Info.NumClasses, Is.EqualTo(2));
            Assert.That(model.Info.UnconditionalLabel, Is.EqualTo(2));
            Assert.That(model.Components, Is.EquivalentTo(new[] { "scheduler", "unet", "vae_decoder" }));
            Assert.That(logger.Entries.Select(e => e.Message), Has.Some.Contain("vae_decoder"), "unused components are noted");
        });

        var spec = Get("mixture-v.onnx");
        var request = MakeRequest(spec, 3, 321.5, seed: 9);
        var output = new float[request.Sample.Length];
        model.CreateDenoiser().Predict(request.Input, output);
        Assert.That(WorstError(spec, output, Expected(spec, request)), Is.LessThan(1e-5));
    }

    [Test]
    public void PipelineFolder_OptionsOverrideTheFiles()
    {
        using var temp = MixturePipeline();
        using var model = OnnxDiffusionModel.Load(temp.Path, new OnnxModelOptions { PredictionType = PredictionType.Epsilon, UnconditionalLabel = 7, NumClasses = 7 });
        Assert.That(model.SchedulerConfig!.PredictionType, Is.EqualTo(PredictionType.Epsilon));
        Assert.That(model.SchedulerConfig.ClassName, Is.EqualTo("DDIMScheduler"));
        Assert.That(model.Info.UnconditionalLabel, Is.EqualTo(7));
        Assert.That(model.Info.NumClasses, Is.EqualTo(7));
    }

    [Test]
    public void PipelineFolder_WithExternalWeightData_Loads()
    {
        using var temp = new TempFolder();
        temp.File("model_index.json", ModelIndexJson);
        temp.File("scheduler/scheduler_config.json", SchedulerJson.Replace("v_prediction", "epsilon", StringComparison.Ordinal));
        var source = Path.GetDirectoryName(Get("gaussian-eps-external/model.onnx").Path)!;
        File.Copy(Path.Combine(source, "model.onnx"), temp.File("unet/model.onnx"));
        File.Copy(Path.Combine(source, "model.onnx_data"), temp.File("unet/model.onnx_data"));
        using var model = OnnxDiffusionModel.Load(temp.Path);

        var spec = Get("gaussian-eps-external/model.onnx");
        var request = MakeRequest(spec, 3, 700, seed: 2);
        var output = new float[request.Sample.Length];
        model.CreateDenoiser().Predict(request.Input, output);
        Assert.That(WorstError(spec, output, Expected(spec, request)), Is.LessThan(1e-5));
    }

    [Test]
    public void MissingPath_IsATypedErrorNamingIt()
    {
        var path = Path.Combine(Path.GetTempPath(), "no-such-model-" + Guid.NewGuid().ToString("N"));
        var error = Assert.Throws<ModelLoadException>(() => OnnxDiffusionModel.Load(path))!;
        Assert.That(error.Message, Does.Contain(path).And.Contain("does not exist").And.Contain("pipeline folder").And.Contain(".onnx file"));
    }

    [Test]
    public void FolderWithoutUnet_IsATypedErrorSayingWhatWasExpected()
    {
        using var temp = new TempFolder();
        temp.File("model_index.json", ModelIndexJson);
        temp.File("scheduler/scheduler_config.json", SchedulerJson);
        var error = Assert.Throws<ModelLoadException>(() => OnnxDiffusionModel.Load(temp.Path))!;
        Assert.That(error.Message, Does.Contain(Path.Combine(temp.Path, "unet", "model.onnx")).And.Contain("not a pipeline folder")
            .And.Contain("model_index.json, scheduler/"));

        File.Copy(Get("gaussian-eps.onnx").Path, temp.File("model.onnx"));
        error = Assert.Throws<ModelLoadException>(() => OnnxDiffusionModel.Load(temp.Path))!;
        Assert.That(error.Message, Does.Contain("pass that file"));
    }

    [Test]
    public void CorruptOnnxFile_IsATypedErrorNamingTheFile()
    {
        using var temp = new TempFolder();
        var file = temp.File("corrupt.onnx");
        var bytes = new byte[4096];
        new Random(17).NextBytes(bytes);
        File.WriteAllBytes(file, bytes);
        var error = Assert.Throws<ModelLoadException>(() => OnnxDiffusionModel.Load(file))!;
        Assert.That(error.Message, Does.Contain(file).And.Contain("valid ONNX model"));
        Assert.That(error.InnerException, Is.InstanceOf<OnnxRuntimeException>());

        // The same inside a pipeline folder.
        File.Copy(file, temp.File("unet/model.onnx"));
        error = Assert.Throws<ModelLoadException>(() => OnnxDiffusionModel.Load(temp.Path))!;
        Assert.That(error.Message, Does.Contain(Path.Combine(temp.Path, "unet", "model.onnx")));
    }

    [Test]
    public void MalformedPipelineFiles_AreTypedErrorsNamingTheFile()
    {
        using (var temp = MixturePipeline())
        {
            var index = temp.File("model_index.json", "{ \"unet\": [\"diffusers\", ");
            var error = Assert.Throws<ModelLoadException>(() => OnnxDiffusionModel.Load(temp.Path))!;
            Assert.That(error.Message, Does.Contain(index).And.Contain("not valid JSON"));
            temp.File("model_index.json", "[1, 2]");
            error = Assert.Throws<ModelLoadException>(() => OnnxDiffusionModel.Load(temp.Path))!;
            Assert.That(error.Message, Does.Contain(index).And.Contain("expected a JSON object"));
        }
        using (var temp = MixturePipeline())
        {
            var scheduler = temp.File("scheduler/scheduler_config.json", """{ "prediction_type": "noise" }""");
            var error = Assert.Throws<ModelLoadException>(() => OnnxDiffusionModel.Load(temp.Path))!;
            Assert.That(error.Message, Does.Contain(scheduler).And.Contain("prediction_type"));
            Assert.That(error.InnerException, Is.InstanceOf<SchedulerConfigException>());
        }
        using (var temp = MixturePipeline())
        {
            var config = temp.File("unet/config.json", """{ "unconditional_label": "none" }""");
            var error = Assert.Throws<ModelLoadException>(() => OnnxDiffusionModel.Load(temp.Path))!;
            Assert.That(error.Message, Does.Contain(config).And.Contain("unconditional_label"));
        }
    }

    [Test]
    public void WrongChannelCount_IsATypedErrorNamingTheFileAndTheExpectedChannels()
    {
        var spec = Get("gaussian-eps-c4.onnx");
        using var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        var shape = new TensorShape(2, 3, 4, 5);
        var error = Assert.Throws<ModelInputException>(() => model.CreateDenoiser().Predict(new DenoiserInput(new float[shape.Length], shape, 10), new float[shape.Length]))!;
        Assert.That(error.Message, Does.Contain("gaussian-eps-c4.onnx").And.Contain("4 channels").And.Contain("[2, 3, 4, 5] has 3"));
    }

    [Test]
    public void ClassConditionalModelWithoutLabels_IsATypedErrorSayingWhichLabelIsUnconditional()
    {
        var spec = Get("mixture-x0.onnx");
        var options = spec.Options();
        options.NumClasses = 2;
        using var model = OnnxDiffusionModel.Load(spec.Path, options);
        var request = MakeRequest(spec, 2, 10, seed: 1, labels: false);
        var output = new float[request.Sample.Length];
        var denoiser = model.CreateDenoiser();
        var error = Assert.Throws<ModelInputException>(() => denoiser.Predict(request.Input, output))!;
        Assert.That(error.Message, Does.Contain("mixture-x0.onnx").And.Contain("class-conditional").And.Contain("'class_labels'")
            .And.Contain("0…1 for a class, or 2 for unconditional"));

        error = Assert.Throws<ModelInputException>(() => denoiser.Predict((request with { Labels = [0, 5] }).Input, output))!;
        Assert.That(error.Message, Does.Contain("class label 5 is out of range"));

        // Without options the unconditional label comes from the ONNX metadata_props (the test networks carry it).
        using var bare = OnnxDiffusionModel.Load(spec.Path);
        Assert.That(bare.Info.UnconditionalLabel, Is.EqualTo(2));
        Assert.That(bare.Info.NumClasses, Is.Null);
        error = Assert.Throws<ModelInputException>(() => bare.CreateDenoiser().Predict(request.Input, output))!;
        Assert.That(error.Message, Does.EndWith("give one class label per item: 2 for unconditional (no class)."));

        // Without a known unconditional label the message says how to set one.
        var unknown = new ModelInfo { Source = "m", Channels = 1, HasClassLabels = true, NumClasses = 10 };
        Assert.That(OnnxDenoiser.LabelMeaning(unknown), Does.Contain("0…9 for a class").And.Contain("unconditional label is not known").And.Contain("UnconditionalLabel"));
    }

    [Test]
    public void LabelsForAnUnconditionalModel_AreATypedError()
    {
        var spec = Get("gaussian-eps.onnx");
        using var model = OnnxDiffusionModel.Load(spec.Path, spec.Options());
        var request = MakeRequest(spec, 2, 10, seed: 1) with { Labels = [0, 1] };
        var error = Assert.Throws<ModelInputException>(() => model.CreateDenoiser().Predict(request.Input, new float[request.Sample.Length]))!;
        Assert.That(error.Message, Does.Contain("takes no class labels"));
    }

    [Test]
    public void CudaOnTheCpuBuild_IsATypedErrorAskingForTheGpuBuild()
    {
        IgnoreOnTheGpuBuild();
        var spec = Get("gaussian-eps.onnx");
        var error = Assert.Throws<ExecutionProviderUnavailableException>(() => OnnxDiffusionModel.Load(spec.Path, new OnnxModelOptions { ExecutionProvider = OnnxExecutionProvider.Cuda, DeviceId = 0 }))!;
        Assert.That(error, Is.InstanceOf<ModelLoadException>());
        Assert.That(error.MissingLibraries, Is.Empty, "the CPU build is the reason, not missing CUDA libraries");
        TestContext.Out.WriteLine(error.Message);
        Assert.That(error.Message, Does.Contain("gaussian-eps.onnx").And.Contain("CUDA").And.Contain("-p:OnnxRuntimeGpu=true"));
        Assert.That(error.InnerException, Is.InstanceOf<EntryPointNotFoundException>().Or.InstanceOf<OnnxRuntimeException>());
    }

    [Test]
    public void Auto_FallsBackToTheCpuWithALoggedWarning()
    {
        IgnoreOnTheGpuBuild();
        var spec = Get("gaussian-x0.onnx");
        var logger = new ListLogger();
        var options = spec.Options();
        options.ExecutionProvider = OnnxExecutionProvider.Auto;
        using var model = OnnxDiffusionModel.Load(spec.Path, options, logger);
        Assert.That(model.ExecutionProvider, Is.EqualTo(OnnxExecutionProvider.Cpu));
        Assert.That(logger.Warnings, Has.Some.Contain("CUDA is not available").And.Some.Contain("on the CPU"));
        var request = MakeRequest(spec, 3, 123, seed: 3);
        var output = new float[request.Sample.Length];
        model.CreateDenoiser().Predict(request.Input, output);
        Assert.That(WorstError(spec, output, Expected(spec, request)), Is.LessThan(1e-5));
    }

    private static void IgnoreOnTheGpuBuild()
    {
        if (OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider"))
            Assert.Ignore("This is the GPU build of ONNX Runtime (-p:OnnxRuntimeGpu=true): the CPU-build behaviour is not observable here.");
    }

    [Test]
    public void InvalidOptions_AreRejected()
    {
        var path = Get("gaussian-eps.onnx").Path;
        Assert.Throws<ArgumentOutOfRangeException>(() => OnnxDiffusionModel.Load(path, new OnnxModelOptions { DeviceId = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => OnnxDiffusionModel.Load(path, new OnnxModelOptions { IntraOpThreads = -2 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => OnnxDiffusionModel.Load(path, new OnnxModelOptions { ExecutionProvider = (OnnxExecutionProvider)9 }));
        var error = Assert.Throws<ModelLoadException>(() => OnnxDiffusionModel.Load(path, new OnnxModelOptions { NumTrainTimesteps = 0 }))!;
        Assert.That(error.Message, Does.Contain("num_train_timesteps"));
    }

    [Test]
    public void OutOfMemoryMessages_AreRecognised()
    {
        Assert.Multiple(() =>
        {
            Assert.That(OnnxErrors.IsOutOfMemory("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running Mul node. Name:'n' Status Message: Failed to allocate memory for requested buffer of size 4294967296"), Is.True);
            Assert.That(OnnxErrors.IsOutOfMemory("/onnxruntime/core/framework/bfc_arena.cc:376 void* onnxruntime::BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*, bool, onnxruntime::WaitNotificationFn) Available memory of 0 is smaller than requested bytes of 1048576"), Is.True);
            Assert.That(OnnxErrors.IsOutOfMemory("CUDA failure 2: out of memory ; GPU=0"), Is.True);
            Assert.That(OnnxErrors.IsOutOfMemory("CUDNN failure 4: CUDNN_STATUS_ALLOC_FAILED"), Is.True);
            Assert.That(OnnxErrors.IsOutOfMemory("std::bad_alloc"), Is.True);
            Assert.That(OnnxErrors.IsOutOfMemory("Invalid rank for input: sample Got: 3 Expected: 4"), Is.False);
        });
    }

    [Test]
    public void AddOnnxModel_RegistersOneDisposableModelWithOptions()
    {
        var spec = Get("mixture-eps.onnx");
        var services = new ServiceCollection();
        services.AddDiffusionSampling().AddDdimSampler().AddOnnxModel(spec.Path, o =>
        {
            o.PredictionType = PredictionType.Epsilon;
            o.UnconditionalLabel = 2;
        });
        IDiffusionModel model;
        using (var provider = services.BuildServiceProvider())
        {
            model = provider.GetRequiredService<IDiffusionModel>();
            Assert.That(provider.GetRequiredService<OnnxDiffusionModel>(), Is.SameAs(model));
            Assert.That(model.Info.UnconditionalLabel, Is.EqualTo(2));
            Assert.That(model.SchedulerConfig!.PredictionType, Is.EqualTo(PredictionType.Epsilon));
            var request = MakeRequest(spec, 2, 50, seed: 4);
            var output = new float[request.Sample.Length];
            model.CreateDenoiser().Predict(request.Input, output);
            Assert.That(WorstError(spec, output, Expected(spec, request)), Is.LessThan(1e-5));
        }
        Assert.Throws<ObjectDisposedException>(() => model.CreateDenoiser(), "the container disposes the model");
    }

    [Test]
    public void AddOnnxModel_BindsOptionsFromConfiguration()
    {
        var spec = Get("gaussian-eps-renamed.onnx");
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Onnx:ExecutionProvider"] = "Auto",
            ["Onnx:IntraOpThreads"] = "1",
            ["Onnx:GraphOptimizationLevel"] = "Basic",
            ["Onnx:SampleInput"] = "x",
            ["Onnx:TimestepInput"] = "t",
            ["Onnx:Output"] = "eps",
            ["Onnx:PredictionType"] = "VPrediction",
            ["Onnx:NumTrainTimesteps"] = "1000",
        }).Build();
        var services = new ServiceCollection();
        services.AddDiffusionSampling().AddOnnxModel(spec.Path, configuration.GetSection(OnnxModelOptions.SectionName));
        using var provider = services.BuildServiceProvider();
        var model = provider.GetRequiredService<OnnxDiffusionModel>();
        Assert.That(model.ExecutionProvider, Is.EqualTo(OnnxExecutionProvider.Cpu));
        Assert.That(model.Signature.SampleName, Is.EqualTo("x"));
        Assert.That(model.SchedulerConfig!.PredictionType, Is.EqualTo(PredictionType.VPrediction));
    }
}
