using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Lora;
using Diffusion.Sdk.Onnx;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>How <see cref="StableDiffusionModel.Load"/> opens a Stable Diffusion folder. Bind it with the Options pattern (section <see cref="SectionName"/>) or set it in code.</summary>
public sealed class StableDiffusionOptions
{
    /// <summary>The configuration section the options bind from by default.</summary>
    public const string SectionName = "StableDiffusion";

    /// <summary>The execution provider, threads and session settings, shared by every ONNX part (text encoder, UNet, VAE).</summary>
    public OnnxModelOptions Onnx { get; set; } = new();

    /// <summary>The VAE scaling factor; null: <c>scaling_factor</c> from <c>vae_decoder/config.json</c> (or <c>vae_encoder/</c>, <c>vae/</c>), else SD 1.x's 0.18215.</summary>
    public double? ScalingFactor { get; set; }

    /// <summary>
    /// LoRA adapters merged into the UNet's and text encoder's weights when their sessions are created (no file is
    /// rewritten), each with its weight: <c>Loras = [new LoraAdapter("style.safetensors", 0.8)]</c>. kohya/A1111 and
    /// diffusers/PEFT <c>.safetensors</c> files; see docs/lora.md. <see cref="StableDiffusionModel.Lora"/> reports what was applied.
    /// </summary>
    public IList<LoraAdapter> Loras { get; set; } = [];

    /// <summary>
    /// A folder to take the VAE from instead of the model's own: an export folder with <c>vae_decoder/</c> (and
    /// <c>vae_encoder/</c>), or a VAE folder with <c>model.onnx</c> (the decoder) beside its <c>config.json</c>. Its
    /// config's <c>scaling_factor</c> and <c>force_upcast</c> apply. Use it for a float32 or fp16-fix VAE when the
    /// model's float16 VAE overflows (<see cref="VaeOverflowException"/>).
    /// </summary>
    public string? VaeFolder { get; set; }

    /// <summary>
    /// An SDXL refiner's folder for base → refiner runs (<see cref="StableDiffusionRequest.HighNoiseFraction"/>): loaded
    /// with the same settings (and <see cref="VaeFolder"/>) as <see cref="StableDiffusionPipeline.Refiner"/>. Null: none.
    /// </summary>
    public string? RefinerFolder { get; set; }

    /// <summary>The tokenizer; null: the CLIP tokenizer of the folder's <c>tokenizer/</c>. Not bindable from configuration.</summary>
    public IPromptTokenizer? Tokenizer { get; set; }
}
