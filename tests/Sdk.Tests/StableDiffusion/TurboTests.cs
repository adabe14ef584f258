using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.StableDiffusion;

/// <summary>
/// Turbo-style use from the model's files alone: an export whose scheduler_config.json names Euler (ancestral) with
/// trailing spacing runs 1–4 steps from t = 999 at guidance 0 (no guidance batch), with no special option.
/// </summary>
[TestFixture]
public sealed class TurboTests
{
    private static readonly Lazy<string> Folder = new(() =>
    {
        // sd-tiny-legacy's files with SD-Turbo's scheduler configuration.
        var target = Path.Combine(Path.GetTempPath(), "sd-tiny-turbo-" + Environment.ProcessId);
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        foreach (var file in Directory.GetFiles(SdFixture.ModelFolder, "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(target, Path.GetRelativePath(SdFixture.ModelFolder, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }
        File.WriteAllText(Path.Combine(target, "scheduler", "scheduler_config.json"), """
            { "_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
              "interpolation_type": "linear", "num_train_timesteps": 1000, "prediction_type": "epsilon", "steps_offset": 1,
              "timestep_spacing": "trailing", "trained_betas": null, "use_karras_sigmas": false }
            """);
        return target;
    });

    [TestCase(1, new double[] { 999 })]
    [TestCase(2, new double[] { 999, 499 })]
    [TestCase(4, new double[] { 999, 749, 499, 249 })]
    public async Task OneToFourStepsAtGuidanceZeroRunFromTheTrailingSchedule(int steps, double[] timesteps)
    {
        using var model = StableDiffusionModel.Load(Folder.Value);
        var pipeline = new StableDiffusionPipeline(model, TestHost.Factory);
        var result = await pipeline.GenerateAsync(new StableDiffusionRequest { Prompt = "a cinematic photo of a fox", Steps = steps, GuidanceScale = 0, Seed = 3, Width = 64, Height = 64 });
        Assert.That(result.SamplerName, Is.EqualTo("euler"));
        Assert.That(result.Timesteps, Is.EqualTo(timesteps));
        Assert.That(result.UnetEvaluations, Is.EqualTo(steps), "guidance 0: one UNet call per step");
        Assert.That(result.Images, Has.All.Matches<float>(v => v >= 0 && v <= 1));
    }
}
