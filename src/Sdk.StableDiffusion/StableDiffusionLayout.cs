using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
namespace Diffusion.Sdk.StableDiffusion;

/// <summary>Which exporter wrote a Stable Diffusion ONNX folder; the two differ in input types and where settings live.</summary>
public enum StableDiffusionLayout
{
    /// <summary>
    /// diffusers' <c>convert_stable_diffusion_checkpoint_to_onnx.py</c>: <c>model_index.json</c> lists the parts as
    /// <c>OnnxRuntimeModel</c>, no component has a <c>config.json</c>, token ids are int32, the UNet's timestep is
    /// float32 [batch], the VAE encoder samples inside the graph, and the scaling factor (0.18215) is implied.
    /// </summary>
    LegacyDiffusers,

    /// <summary>
    /// Hugging Face Optimum's exporter: every component folder has its <c>config.json</c>, token ids are int64, the
    /// timestep is a float32 scalar (int64 in older exports), the VAE encoder returns <c>latent_parameters</c>, and the
    /// scaling factor is in <c>vae_decoder/config.json</c>.
    /// </summary>
    Optimum,
}
