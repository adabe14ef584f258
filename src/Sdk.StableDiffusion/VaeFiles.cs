using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>Where a model's VAE comes from: its own <c>vae_decoder/</c> and <c>vae_encoder/</c>, or another folder (<see cref="StableDiffusionOptions.VaeFolder"/>).</summary>
/// <param name="Decoder">The decoder's <c>model.onnx</c>.</param>
/// <param name="Encoder">The encoder's, or null when there is none.</param>
/// <param name="Config">The VAE's config (scaling factor, blocks, force_upcast), or null (legacy layout).</param>
internal sealed record VaeFiles(string Decoder, string? Encoder, ComponentConfig? Config)
{
    /// <summary>The model's own VAE, or the one in <paramref name="vaeFolder"/> (an export folder with <c>vae_decoder/</c>, or a VAE folder with <c>model.onnx</c>).</summary>
    /// <exception cref="ModelLoadException">The other folder has no VAE decoder.</exception>
    public static VaeFiles Find(string root, string? vaeFolder)
    {
        var own = Path.Combine(root, "vae_encoder", "model.onnx");
        var ownEncoder = File.Exists(own) ? own : null;
        if (vaeFolder is null)
            return new VaeFiles(Path.Combine(root, "vae_decoder", "model.onnx"), ownEncoder,
                ComponentConfig.TryRead(root, "vae_decoder") ?? ComponentConfig.TryRead(root, "vae_encoder") ?? ComponentConfig.TryRead(root, "vae"));

        var folder = Path.GetFullPath(vaeFolder);
        var decoder = Path.Combine(folder, "vae_decoder", "model.onnx");
        if (File.Exists(decoder))
        {
            var encoder = Path.Combine(folder, "vae_encoder", "model.onnx");
            return new VaeFiles(decoder, File.Exists(encoder) ? encoder : ownEncoder,
                ComponentConfig.TryRead(folder, "vae_decoder") ?? ComponentConfig.TryRead(folder, "vae_encoder") ?? ComponentConfig.TryRead(folder, "vae"));
        }
        var bare = Path.Combine(folder, "model.onnx");
        if (File.Exists(bare))
            return new VaeFiles(bare, ownEncoder, ComponentConfig.TryReadFile(Path.Combine(folder, "config.json")));
        throw new ModelLoadException($"The VAE folder '{folder}' has neither vae_decoder/model.onnx nor model.onnx; give an export folder with vae_decoder/, or a VAE decoder's folder (model.onnx with its config.json).");
    }
}
