using System.Text.Json;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.StableDiffusionXL;

/// <summary>The SDK request that reproduces a reference stage: every keyword argument of the pipeline call mapped to its request property.</summary>
public static class SdxlRequests
{
    public static StableDiffusionRequest For(SdxlStage stage, StepCallback? onStep = null)
    {
        var inputs = stage.Inputs;
        var prompts = stage.Prompts;
        return new StableDiffusionRequest
        {
            Prompt = prompts[0],
            Prompts = prompts.Count > 1 ? prompts : null,
            Prompt2 = stage.Text("prompt_2"),
            NegativePrompt = stage.Text("negative_prompt"),
            NegativePrompt2 = stage.Text("negative_prompt_2"),
            ClipSkip = stage.ClipSkip,
            MicroConditioning = stage.MicroConditioning,
            Steps = (int)stage.Number("num_inference_steps")!.Value,
            GuidanceScale = stage.GuidanceScale,
            GuidanceRescale = stage.Number("guidance_rescale") ?? 0,
            ImagesPerPrompt = stage.ImagesPerPrompt,
            Seed = stage.Case.Seed,
            Width = (int?)stage.Number("width"),
            Height = (int?)stage.Number("height"),
            Strength = stage.Number("strength") ?? 0.3, // the SDXL image-to-image pipeline's default
            DenoisingStart = stage.Number("denoising_start"),
            DenoisingEnd = stage.Number("denoising_end"),
            LatentsOnly = inputs.TryGetProperty("output_type", out var o) && o.GetString() == "latent",
            Sampler = Sampler(stage),
            Sampling = Sampling(stage),
            InitImage = stage.Has("img2img", "input_image_png")
                ? File.ReadAllBytes(Path.Combine(stage.Case.Folder, stage.Root.GetProperty("img2img").GetProperty("input_image_png").GetString()!))
                : null,
            OnStep = onStep,
        };
    }

    // The shipped scheduler runs by default; another class (Euler ancestral here) is named, and the settings the
    // reference changed on top of the shipped config (timestep_spacing "trailing" for Turbo) are passed as options.
    private static string? Sampler(SdxlStage stage) =>
        stage.Root.GetProperty("scheduler").GetProperty("how").GetString()!.StartsWith("shipped", StringComparison.Ordinal)
            ? null
            : TestHost.Factory.ResolveName(new SamplingOptions(), new SchedulerConfig { ClassName = stage.SchedulerClass });

    private static SamplingOptions? Sampling(SdxlStage stage) =>
        stage.SchedulerConfig.TryGetProperty("timestep_spacing", out var spacing) && spacing.GetString() is { } s
            ? new SamplingOptions { TimestepSpacing = ConfigNames.ParseTimestepSpacing(s) }
            : null;
}
