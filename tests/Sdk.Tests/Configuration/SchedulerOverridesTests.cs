using System.Text.Json;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Tests.Conformance;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Configuration;

/// <summary>
/// <see cref="SamplingOptions.SchedulerOverrides"/> (the command line's <c>--scheduler-config KEY=VALUE</c>): any
/// <c>scheduler_config.json</c> key set for one request, through the same reader and checks as the file's keys, as the
/// reference's <c>from_config(config, **overrides)</c>.
/// </summary>
[TestFixture]
public sealed class SchedulerOverridesTests
{
    public static IEnumerable<TestCaseData> ReferenceConfigurations() =>
        Directory.EnumerateFiles(TestData.Path("reference", "schedulers"), "*.json")
            .Concat(Directory.EnumerateFiles(TestData.Path("reference", "generated"), "*.json"))
            .Order(StringComparer.Ordinal)
            .Select(file => new TestCaseData(file).SetName($"Overrides equal the file {Path.GetFileName(file)}"));

    // Every configuration the reference recorded, given key by key as overrides of the defaults (each value as the
    // text a user would type: JSON as written, strings bare), is the configuration its file reads as.
    [TestCaseSource(nameof(ReferenceConfigurations))]
    public void EveryReferenceConfigurationGivenAsOverridesIsTheFilesConfiguration(string file)
    {
        var reference = ReferenceTrajectory.Load(file);
        using var document = JsonDocument.Parse(SchedulerConfigJson.QuoteNonFiniteLiterals(reference.ConfigJson));
        var options = new SamplingOptions();
        foreach (var property in document.RootElement.EnumerateObject())
            options.SchedulerOverrides[property.Name] = property.Value.ValueKind == JsonValueKind.String
                ? property.Value.GetString()!
                : property.Value.GetRawText();

        var fromOverrides = options.ApplyTo(null);
        var fromFile = SchedulerConfigJson.Parse(reference.ConfigJson, source: file);
        Assert.That(SchedulerConfigJson.Serialize(fromOverrides), Is.EqualTo(SchedulerConfigJson.Serialize(fromFile)));
    }

    [Test]
    public void BareWordsAreStringsAndJsonIsJson()
    {
        var options = new SamplingOptions();
        options.SchedulerOverrides["timestep_spacing"] = "trailing";
        options.SchedulerOverrides["prediction_type"] = "v_prediction";
        options.SchedulerOverrides["num_train_timesteps"] = "500";
        options.SchedulerOverrides["use_karras_sigmas"] = "true";
        options.SchedulerOverrides["steps_offset"] = "1";
        var config = options.ApplyTo(new SchedulerConfig { BetaEnd = 0.012 });
        Assert.Multiple(() =>
        {
            Assert.That(config.TimestepSpacing, Is.EqualTo(TimestepSpacing.Trailing));
            Assert.That(config.PredictionType, Is.EqualTo(PredictionType.VPrediction));
            Assert.That(config.NumTrainTimesteps, Is.EqualTo(500));
            Assert.That(config.UseKarrasSigmas, Is.True);
            Assert.That(config.StepsOffset, Is.EqualTo(1));
            Assert.That(config.BetaEnd, Is.EqualTo(0.012), "keys not overridden keep the model's value");
        });
    }

    [Test]
    public void NullRestoresTheDefaultAsInTheFile()
    {
        var options = new SamplingOptions();
        options.SchedulerOverrides["timestep_spacing"] = "null";
        Assert.That(options.ApplyTo(new SchedulerConfig { TimestepSpacing = TimestepSpacing.Trailing }).TimestepSpacing, Is.Null);
    }

    [Test]
    public void TheRequestsTypedOptionsAreLaidOverTheOverrides()
    {
        var options = new SamplingOptions { Eta = 0.5 };
        options.SchedulerOverrides["eta"] = "0.25";
        Assert.That(options.ApplyTo(null).Eta, Is.EqualTo(0.5));
    }

    [TestCase("prediction_type", "noise")]
    [TestCase("num_train_timesteps", "-3")]
    [TestCase("beta_schedule", "\"linear")]
    [TestCase("use_karras_sigmas", "maybe")]
    public void AnInvalidValueIsATypedErrorNamingTheKeyAndWhereItCameFrom(string key, string value)
    {
        var options = new SamplingOptions();
        options.SchedulerOverrides[key] = value;
        var error = Assert.Throws<SchedulerConfigException>(() => options.ApplyTo(null))!;
        Assert.Multiple(() =>
        {
            Assert.That(error.Key, Is.EqualTo(key));
            Assert.That(error.Message, Does.Contain("SchedulerOverrides"));
        });
    }

    [Test]
    public void ABlankKeyIsRefusedByValidate()
    {
        var options = new SamplingOptions();
        options.SchedulerOverrides[" "] = "1";
        Assert.That(() => options.Validate(), Throws.InstanceOf<SamplingOptionException>().With.Message.Contains("SchedulerOverrides"));
    }

    [Test]
    public void CloneCopiesTheOverrides()
    {
        var options = new SamplingOptions();
        options.SchedulerOverrides["eta"] = "0.1";
        var copy = options.Clone();
        copy.SchedulerOverrides["eta"] = "0.9";
        Assert.That(options.SchedulerOverrides["eta"], Is.EqualTo("0.1"));
    }

    [Test]
    public void AKeyTheChosenSamplerDoesNotReadIsAWarningNamingIt()
    {
        var logger = new ListLogger();
        using var provider = TestHost.Build(logger);
        var factory = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<ISamplerFactory>(provider);
        var options = new SamplingOptions { Sampler = "euler-ancestral" };
        options.SchedulerOverrides["solver_order"] = "2";
        factory.Create(options, null);
        Assert.That(logger.Warnings, Has.Some.Contains("solver_order"));
    }
}
