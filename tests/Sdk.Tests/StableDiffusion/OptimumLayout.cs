using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Text.Json.Nodes;
using Diffusion.Sdk.StableDiffusion;

namespace Diffusion.Sdk.Tests.StableDiffusion;

/// <summary>
/// An Optimum-layout folder built from the tiny fixture: the same weights, but config.json in every component folder
/// (the scaling factor among them), a float32 scalar timestep, and a VAE encoder that returns latent_parameters
/// (tools/sd-fixtures/make_sd_variants.py makes those two graphs). The reference results are the same.
/// </summary>
public static class OptimumLayout
{
    private static readonly Lazy<string> LazyFolder = new(() => Build(Path.Combine(Path.GetTempPath(), "sd-tiny-optimum-" + Environment.ProcessId)));

    /// <summary>The folder, built once per test run.</summary>
    public static string Folder => LazyFolder.Value;

    private static readonly Lazy<string> LazyInpaintingFolder = new(() => BuildInpainting(Path.Combine(Path.GetTempPath(), "sd-inpaint-tiny-optimum-" + Environment.ProcessId)));

    /// <summary>The 9-channel inpainting fixture (sd-inpaint-tiny-legacy) in the Optimum layout, built once per test run.</summary>
    public static string InpaintingFolder => LazyInpaintingFolder.Value;

    /// <summary>Writes the Optimum folder at <paramref name="target"/> (replacing it) with <paramref name="scalingFactor"/> in the VAE configs.</summary>
    public static string Build(string target, double scalingFactor = StableDiffusionModel.LegacyScalingFactor) =>
        Build(SdFixture.ModelFolder, TestData.Path("sd-tiny-optimum"), target, scalingFactor, unetInChannels: 4);

    /// <summary>
    /// sd-inpaint-tiny-legacy's 9-channel UNet with Optimum's scalar timestep (sd-inpaint-tiny-optimum/unet), its weights
    /// and the parts it shares with sd-tiny-legacy, in the Optimum layout at <paramref name="target"/>.
    /// </summary>
    public static string BuildInpainting(string target) =>
        Build(InpaintFixture.ModelFolder, TestData.Path("sd-inpaint-tiny-optimum"), target, StableDiffusionModel.LegacyScalingFactor, unetInChannels: 9);

    private static string Build(string legacy, string unetGraphFolder, string target, double scalingFactor, int unetInChannels)
    {
        var generated = TestData.Path("sd-tiny-optimum");
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        Directory.CreateDirectory(target);
        foreach (var part in new[] { "tokenizer", "text_encoder", "vae_decoder", "scheduler" })
            CopyFolder(Path.Combine(legacy, part), Path.Combine(target, part));
        Directory.CreateDirectory(Path.Combine(target, "unet"));
        Directory.CreateDirectory(Path.Combine(target, "vae_encoder"));
        File.Copy(Path.Combine(unetGraphFolder, "unet", "model.onnx"), Path.Combine(target, "unet", "model.onnx"));
        File.Copy(Path.Combine(legacy, "unet", "weights.pb"), Path.Combine(target, "unet", "weights.pb"));
        File.Copy(Path.Combine(generated, "vae_encoder", "model.onnx"), Path.Combine(target, "vae_encoder", "model.onnx"));

        // Optimum writes each model's config; the SDK reads the VAE's scaling_factor and block_out_channels.
        var vae = new JsonObject
        {
            ["_class_name"] = "AutoencoderKL", ["in_channels"] = 3, ["out_channels"] = 3, ["latent_channels"] = 4,
            ["block_out_channels"] = new JsonArray(8, 8, 16, 16), ["layers_per_block"] = 1, ["norm_num_groups"] = 4,
            ["sample_size"] = 64, ["scaling_factor"] = scalingFactor,
        };
        File.WriteAllText(Path.Combine(target, "vae_decoder", "config.json"), vae.ToJsonString());
        File.WriteAllText(Path.Combine(target, "vae_encoder", "config.json"), vae.ToJsonString());
        File.WriteAllText(Path.Combine(target, "unet", "config.json"), """
            {"_class_name": "UNet2DConditionModel", "in_channels": IN, "out_channels": 4, "sample_size": 8, "cross_attention_dim": 32, "num_class_embeds": null}
            """.Replace("IN", unetInChannels.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(target, "text_encoder", "config.json"), """
            {"architectures": ["CLIPTextModel"], "hidden_size": 32, "max_position_embeddings": 77, "vocab_size": 49408}
            """);
        File.WriteAllText(Path.Combine(target, "model_index.json"), """
            {"_class_name": "ORTStableDiffusionPipeline", "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"], "vae_decoder": ["diffusers", "AutoencoderKL"],
             "vae_encoder": ["diffusers", "AutoencoderKL"], "safety_checker": [null, null], "feature_extractor": [null, null]}
            """);
        // Python's json module writes bare -Infinity for some float fields; the loader must read it.
        var scheduler = Path.Combine(target, "scheduler", "scheduler_config.json");
        File.SetAttributes(scheduler, FileAttributes.Normal);
        var text = File.ReadAllText(scheduler).TrimEnd().TrimEnd('}').TrimEnd() + ",\n  \"lambda_min_clipped\": -Infinity\n}\n";
        File.WriteAllText(scheduler, text);
        return target;
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            var destination = Path.Combine(to, Path.GetFileName(file));
            File.Copy(file, destination);
            File.SetAttributes(destination, FileAttributes.Normal);
        }
    }
}
