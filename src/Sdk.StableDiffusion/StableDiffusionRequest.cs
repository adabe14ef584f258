using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>What to generate with <see cref="StableDiffusionPipeline"/>: text to image, or image to image when <see cref="InitImage"/> is set.</summary>
public sealed class StableDiffusionRequest
{
    /// <summary>The prompt. For a batch of different prompts use <see cref="Prompts"/>.</summary>
    public string Prompt { get; init; } = "";

    /// <summary>Several prompts, one batch item each (times <see cref="ImagesPerPrompt"/>); overrides <see cref="Prompt"/>.</summary>
    public IReadOnlyList<string>? Prompts { get; init; }

    /// <summary>What to steer away from under guidance; null: the empty prompt, as the reference does. Used for every prompt.</summary>
    public string? NegativePrompt { get; init; }

    /// <summary>
    /// How the prompts and the negative prompt are read: <see cref="PromptSyntax.Plain"/> (the default: cut at 75
    /// tokens, the standard pipeline's embeddings) or <see cref="PromptSyntax.A1111"/> (emphasis such as
    /// <c>(word:1.3)</c>, and prompts longer than 75 tokens, as diffusers' long-prompt-weighting pipeline reads them).
    /// </summary>
    public PromptSyntax PromptSyntax { get; init; } = PromptSyntax.Plain;

    /// <summary>
    /// With <see cref="PromptSyntax.A1111"/>: the most 75-token windows a prompt may fill (the reference's
    /// <c>max_embeddings_multiples</c>, 3); tokens beyond them are dropped. The prompt and the negative prompt both get
    /// the windows the longer one needs. Unused with <see cref="PromptSyntax.Plain"/>.
    /// </summary>
    public int PromptMaxWindows { get; init; } = LongPromptEncoder.DefaultMaxWindows;

    /// <summary>Image width in pixels, a multiple of the VAE factor (8); null: the UNet's sample size × 8 (512 when unknown), or the start image's.</summary>
    public int? Width { get; init; }

    /// <summary>Image height in pixels, a multiple of the VAE factor (8); null: as <see cref="Width"/>.</summary>
    public int? Height { get; init; }

    /// <summary>Classifier-free guidance weight; guidance runs only above 1, as in the reference.</summary>
    public double GuidanceScale { get; init; } = 7.5;

    /// <summary>Guidance rescale φ in [0, 1] (Lin et al. 2023); 0 turns it off.</summary>
    public double GuidanceRescale { get; init; }

    /// <summary>Inference steps.</summary>
    public int Steps { get; init; } = 50;

    /// <summary>Seed of the run's one generator (the same numbers as <c>torch.Generator('cpu').manual_seed(seed)</c>).</summary>
    public ulong Seed { get; init; }

    /// <summary>The sampler (<c>pndm</c>, <c>euler-ancestral</c>, <c>dpm-solver</c>, a plugin's…); null: the class in the model's <c>scheduler_config.json</c>.</summary>
    public string? Sampler { get; init; }

    /// <summary>
    /// Wrappers and sampler settings (Karras σ, thresholding, η…). Its sampler name, steps and guidance are
    /// replaced by <see cref="Sampler"/>, <see cref="Steps"/>, <see cref="GuidanceScale"/> and <see cref="GuidanceRescale"/>;
    /// the model's scheduler configuration supplies the schedule.
    /// </summary>
    public SamplingOptions? Sampling { get; init; }

    /// <summary>
    /// The consistency samplers' (LCM, TCD) distillation-schedule length, as the reference's LCM pipelines take it per
    /// call (<c>original_inference_steps</c>); null: the model's <c>scheduler_config.json</c> (50 when it has none).
    /// </summary>
    public int? OriginalInferenceSteps { get; init; }

    /// <summary>Images per prompt.</summary>
    public int ImagesPerPrompt { get; init; } = 1;

    /// <summary>
    /// Image to image and inpainting: the start picture, PNG (or any format <see cref="StableDiffusionImages.Decode(byte[])"/>
    /// reads) bytes. Without <see cref="Width"/> and <see cref="Height"/> its size is used, each side rounded down to a
    /// multiple of the VAE factor; a picture of another size than the request's is resized (<see cref="ImageResampling"/>).
    /// </summary>
    public byte[]? InitImage { get; init; }

    /// <summary>
    /// Inpainting: the mask picture (PNG, JPEG, BMP; grey or colour), white (luma ≥ 128) where <see cref="InitImage"/> is
    /// repainted and black where it is kept, binarized as the reference's mask processor does; resized to the image
    /// size when it differs. Needs <see cref="InitImage"/>; <see cref="Strength"/> 1 (the usual for inpainting) repaints
    /// from pure noise. A 9-channel inpainting UNet sees the mask and the masked image; an ordinary UNet has the known
    /// region put back after every step.
    /// </summary>
    public byte[]? Mask { get; init; }

    /// <summary>Image to image: how much of the schedule to run, in (0, 1]; 1 keeps nothing of the start picture's content.</summary>
    public double Strength { get; init; } = 0.8;

    /// <summary>Receives the latents after every step (valid only during the call).</summary>
    public StepCallback? OnStep { get; init; }
}
