using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Diffusion.Sdk.Tests.Configuration;

[TestFixture]
public sealed class SchedulerConfigJsonTests
{
    private const string StableDiffusionDdim = """
        {
          "_class_name": "DDIMScheduler",
          "_diffusers_version": "0.30.0",
          "beta_end": 0.012,
          "beta_schedule": "scaled_linear",
          "beta_start": 0.00085,
          "clip_sample": false,
          "num_train_timesteps": 1000,
          "prediction_type": "v_prediction",
          "set_alpha_to_one": false,
          "steps_offset": 1,
          "trained_betas": null,
          "timestep_spacing": "leading",
          "rescale_betas_zero_snr": true
        }
        """;

    [Test]
    public void ReadsEveryKeyOfAReferenceFile()
    {
        var config = SchedulerConfigJson.Parse(StableDiffusionDdim);
        Assert.Multiple(() =>
        {
            Assert.That(config.ClassName, Is.EqualTo("DDIMScheduler"));
            Assert.That(TestHost.Factory.Create(new SamplingOptions(), config).Name, Is.EqualTo("ddim"));
            Assert.That(config.BetaSchedule, Is.EqualTo(BetaSchedule.ScaledLinear));
            Assert.That(config.BetaStart, Is.EqualTo(0.00085));
            Assert.That(config.BetaEnd, Is.EqualTo(0.012));
            Assert.That(config.PredictionType, Is.EqualTo(PredictionType.VPrediction));
            Assert.That(config.ClipSample, Is.False);
            Assert.That(config.SetAlphaToOne, Is.False);
            Assert.That(config.StepsOffset, Is.EqualTo(1));
            Assert.That(config.TimestepSpacing, Is.EqualTo(TimestepSpacing.Leading));
            Assert.That(config.RescaleBetasZeroSnr, Is.True);
            Assert.That(config.TrainedBetas, Is.Null, "null means not given");
            Assert.That(config.AdditionalKeys.Keys, Is.EquivalentTo(new[] { "_diffusers_version" }));
        });
    }

    [Test]
    public void WritingAndReadingBackKeepsEveryValue()
    {
        var config = SchedulerConfigJson.Parse(StableDiffusionDdim);
        config.TrainedBetas = null;
        var again = SchedulerConfigJson.Parse(SchedulerConfigJson.Serialize(config));
        Assert.That(SchedulerConfigJson.Serialize(again), Is.EqualTo(SchedulerConfigJson.Serialize(config)));
        Assert.That(again.AdditionalKeys["_diffusers_version"].GetString(), Is.EqualTo("0.30.0"));
    }

    [Test]
    public void SaveWritesAtomicallyAndLoadReadsIt()
    {
        var path = Path.Combine(Path.GetTempPath(), $"scheduler_config_{Guid.NewGuid():N}.json");
        try
        {
            SchedulerConfigJson.Save(new SchedulerConfig { ClassName = "DDPMScheduler", NumTrainTimesteps = 500 }, path);
            Assert.That(File.Exists(path + ".tmp"), Is.False);
            Assert.That(SchedulerConfigJson.Load(path).NumTrainTimesteps, Is.EqualTo(500));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void UnknownKeysAreKeptAndReportedWithAWarning()
    {
        var logger = new ListLogger();
        var config = SchedulerConfigJson.Parse("""{"num_train_timesteps": 1000, "shiny_new_option": [1, 2], "use_karras_sigmas": false, "use_lu_lambdas": false}""", logger);
        Assert.Multiple(() =>
        {
            Assert.That(config.AdditionalKeys.ContainsKey("shiny_new_option"), Is.True);
            Assert.That(logger.Warnings, Has.Count.EqualTo(1), "inactive keys at their default stay silent");
            Assert.That(logger.Warnings[0], Does.Contain("shiny_new_option"));
            Assert.That(SchedulerConfigJson.Serialize(config), Does.Contain("shiny_new_option"));
        });
    }

    // Each invalid value must name its key; the allowed values are part of the message.
    [TestCase("""{"num_train_timesteps": 0}""", "num_train_timesteps")]
    [TestCase("""{"num_train_timesteps": 2.5}""", "num_train_timesteps")]
    [TestCase("""{"beta_start": 0.02, "beta_end": 0.01}""", "beta_end")]
    [TestCase("""{"beta_schedule": "scaled_linear", "beta_start": 0.1, "beta_end": 0.1}""", "beta_end")]
    [TestCase("""{"beta_schedule": "cosine"}""", "beta_schedule")]
    [TestCase("""{"prediction_type": "noise"}""", "prediction_type")]
    [TestCase("""{"timestep_spacing": "uniform"}""", "timestep_spacing")]
    [TestCase("""{"variance_type": "fixed_medium"}""", "variance_type")]
    [TestCase("""{"dynamic_thresholding_ratio": 0}""", "dynamic_thresholding_ratio")]
    [TestCase("""{"dynamic_thresholding_ratio": 1.5}""", "dynamic_thresholding_ratio")]
    [TestCase("""{"beta_start": "NaN"}""", "beta_start")]
    [TestCase("""{"beta_end": "Infinity"}""", "beta_end")]
    [TestCase("""{"beta_end": 1e999}""", "beta_end")]
    [TestCase("""{"clip_sample": "yes"}""", "clip_sample")]
    [TestCase("""{"steps_offset": -1}""", "steps_offset")]
    [TestCase("""{"trained_betas": [0.1, 0.2], "num_train_timesteps": 3}""", "trained_betas")]
    [TestCase("""{"solver_order": 0}""", "solver_order")]
    [TestCase("""{"num_train_timesteps": 1000,""", "(json)")]
    [TestCase("""{"beta_start": NaN}""", "beta_start")]
    [TestCase("""{"beta_end": Infinity}""", "beta_end")]
    [TestCase("""{"beta_start": NaNa}""", "(json)")]
    [TestCase("""[1, 2]""", "(json)")]
    public void InvalidValuesAreTypedErrorsNamingTheKey(string json, string key)
    {
        var error = Assert.Throws<SchedulerConfigException>(() => SchedulerConfigJson.Parse(json, source: "test.json"))!;
        Assert.Multiple(() =>
        {
            Assert.That(error.Key, Is.EqualTo(key));
            Assert.That(error.Message, Does.Contain(key).And.Contain("allowed").And.Contain("test.json"));
        });
    }

    [Test]
    public void BareNonFiniteLiteralsAsPythonWritesThemAreRead()
    {
        // Python's json.dump writes float('-inf') as a bare -Infinity; a string value that spells it stays a string.
        var config = SchedulerConfigJson.Parse("""{"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "timestep_spacing": "leading", "x": [NaN, Infinity, "-Infinity"]}""");
        Assert.Multiple(() =>
        {
            Assert.That(config.LambdaMinClipped, Is.EqualTo(double.NegativeInfinity));
            Assert.That(SchedulerConfigJson.Parse(SchedulerConfigJson.Serialize(config)).LambdaMinClipped, Is.EqualTo(double.NegativeInfinity), "round trip");
            Assert.That(config.TimestepSpacing, Is.EqualTo(TimestepSpacing.Leading));
            Assert.That(config.AdditionalKeys["x"].GetRawText(), Is.EqualTo("""["NaN", "Infinity", "-Infinity"]"""));
        });
        Assert.That(SchedulerConfigJson.QuoteNonFiniteLiterals("""{"a": "NaN \" Infinity", "b": -Infinity}"""), Is.EqualTo("""{"a": "NaN \" Infinity", "b": "-Infinity"}"""));
    }

    [Test]
    public void InferenceStepsOutsideTheTrainingRangeAreRefusedByName()
    {
        var sampler = Support.TestHost.Factory.Create("ddim", new SchedulerConfig { NumTrainTimesteps = 100 });
        Assert.Multiple(() =>
        {
            Assert.That(Assert.Throws<SchedulerConfigException>(() => sampler.SetTimesteps(0))!.Key, Is.EqualTo("num_inference_steps"));
            Assert.That(Assert.Throws<SchedulerConfigException>(() => sampler.SetTimesteps(101))!.Key, Is.EqualTo("num_inference_steps"));
        });
    }

    [Test]
    public void AMissingFileIsATypedErrorNamingIt()
    {
        var error = Assert.Throws<SchedulerConfigException>(() => SchedulerConfigJson.Load("/nonexistent/scheduler_config.json"))!;
        Assert.That(error.Message, Does.Contain("/nonexistent/scheduler_config.json"));
    }

    private sealed class ListLogger : ILogger
    {
        public List<string> Warnings { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Warning) Warnings.Add(formatter(state, exception));
        }
    }
}
