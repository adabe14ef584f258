using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>What to generate with <see cref="StableDiffusionPipeline"/>: text to image, or image to image when <see cref="InitImage"/> is set.</summary>
public sealed record StableDiffusionRequest
{
    /// <summary>The prompt. For a batch of different prompts use <see cref="Prompts"/>.</summary>
    public string Prompt { get; init; } = "";

    /// <summary>Several prompts, one batch item each (times <see cref="ImagesPerPrompt"/>); overrides <see cref="Prompt"/>.</summary>
    public IReadOnlyList<string>? Prompts { get; init; }

    /// <summary>
    /// What to steer away from under guidance, for every prompt; null: none — SD 1.x/2.x encode the empty prompt, an
    /// SDXL model whose <c>force_zeros_for_empty_prompt</c> is true uses zero embeddings, as the reference does (an
    /// explicit "" is encoded).
    /// </summary>
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

    /// <summary>SDXL: the text for the second text encoder (<c>prompt_2</c>); null or empty: <see cref="Prompt"/>, as the reference's <c>prompt_2 or prompt</c>.</summary>
    public string? Prompt2 { get; init; }

    /// <summary>SDXL: each of <see cref="Prompts"/>' second text, paired by position (null entries: the prompt itself); overrides <see cref="Prompt2"/>.</summary>
    public IReadOnlyList<string?>? Prompts2 { get; init; }

    /// <summary>One negative prompt per entry of <see cref="Prompts"/>, paired by position; overrides <see cref="NegativePrompt"/>.</summary>
    public IReadOnlyList<string>? NegativePrompts { get; init; }

    /// <summary>SDXL: each negative prompt's second text, paired by position with <see cref="NegativePrompts"/> (null entries: the negative prompt); overrides <see cref="NegativePrompt2"/>.</summary>
    public IReadOnlyList<string?>? NegativePrompts2 { get; init; }

    /// <summary>SDXL: the negative text for the second text encoder (<c>negative_prompt_2</c>); null or empty: <see cref="NegativePrompt"/>.</summary>
    public string? NegativePrompt2 { get; init; }

    /// <summary>
    /// SDXL: layers to skip at the end of each text encoder (<c>clip_skip</c>): the prompt uses
    /// <c>hidden_states[-(ClipSkip + 2)]</c>. As in the reference, the negative prompt always uses <c>hidden_states[-2]</c>.
    /// </summary>
    public int ClipSkip { get; init; }

    /// <summary>SDXL: the micro-conditioning (sizes, crop, aesthetic scores); null: the reference's defaults.</summary>
    public MicroConditioning? MicroConditioning { get; init; }

    /// <summary>
    /// SDXL base of an ensemble of experts (<c>denoising_end</c>, in (0, 1)): stop after the timesteps at or above
    /// <c>round(N − d·N)</c>, to hand the latents to a refiner. Usually with <see cref="LatentsOnly"/>.
    /// </summary>
    public double? DenoisingEnd { get; init; }

    /// <summary>
    /// SDXL refiner (<c>denoising_start</c>, in (0, 1)): image to image from <see cref="InitLatents"/> (used as they
    /// are, no noise added), over the timesteps below <c>round(N − d·N)</c>; <see cref="Strength"/> is not used.
    /// </summary>
    public double? DenoisingStart { get; init; }

    /// <summary>Image to image from latents instead of a picture (NCHW, the request's latent shape, already scaled): a base model's output for a refiner.</summary>
    public float[]? InitLatents { get; init; }

    /// <summary>Return the final latents without decoding them (the reference's <c>output_type="latent"</c>): the result has no images.</summary>
    public bool LatentsOnly { get; init; }

    /// <summary>
    /// Base → refiner in one call, for a pipeline that has a <c>StableDiffusionPipeline.Refiner</c>: the base
    /// runs with <c>denoising_end</c> = this fraction, the refiner continues with <c>denoising_start</c> = it, from the
    /// same generator (0.8 is the reference's example). Null: the base alone.
    /// </summary>
    public double? HighNoiseFraction { get; init; }

    /// <summary>Image width in pixels, a multiple of the VAE factor (8); null: the UNet's sample size × 8 (512 when unknown), or the start image's.</summary>
    public int? Width { get; init; }

    /// <summary>Image height in pixels, a multiple of the VAE factor (8); null: as <see cref="Width"/> when that is set, else the start image's or the default (as for <see cref="Width"/>).</summary>
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

    /// <summary>Collect min, max, mean and standard deviation of the UNet's input and output at every step (<see cref="StableDiffusionResult.Statistics"/>).</summary>
    public bool CollectStatistics { get; init; }
}
