using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// The JSON files of an export folder that loading reads (<c>model_index.json</c> and the UNet's, the VAE's and the
/// text encoder's <c>config.json</c>), each parsed once, and every value the pipeline takes from them read and checked
/// here, before any session opens: a value of the wrong kind or out of range is a <see cref="ModelLoadException"/>
/// naming the file. The fuzzing harness reads folders through this class too (target <c>model-config</c>).
/// </summary>
internal sealed class ModelFolderConfigs
{
    private ModelFolderConfigs(ComponentConfig? index, ComponentConfig? unet, ComponentConfig? textEncoder, VaeFiles vae)
    {
        Index = index;
        Unet = unet;
        Vae = vae;
        DeclaresXl = index?.String("_class_name") is { } name && name.Contains("StableDiffusionXL", StringComparison.Ordinal);
        RequiresAestheticsScore = index?.Boolean("requires_aesthetics_score");
        ForceZerosForEmptyPrompt = index?.Boolean("force_zeros_for_empty_prompt") ?? true;
        ScalingFactor = vae.Config?.Number("scaling_factor");
        VaeScaleFactor = ComponentConsistency.VaeScaleFactor(vae.Config);
        ForceUpcast = vae.Config?.Boolean("force_upcast");
        LatentChannels = vae.Config?.Integer("latent_channels");
        SampleSize = ComponentConsistency.SampleSize(unet?.Integer("sample_size"), VaeScaleFactor,
            unet?.File ?? "unet/config.json", vae.Config?.File ?? "the default of 8");
        TimeCondProjDim = unet?.Integer("time_cond_proj_dim");
        TextEncoderWidth = textEncoder?.Integer("hidden_size");
        Layout = vae.Config is not null || unet is not null || textEncoder is not null ? StableDiffusionLayout.Optimum : StableDiffusionLayout.LegacyDiffusers;
    }

    /// <summary><c>model_index.json</c>, or null.</summary>
    public ComponentConfig? Index { get; }

    /// <summary><c>unet/config.json</c>, or null.</summary>
    public ComponentConfig? Unet { get; }

    /// <summary>Where the VAE comes from, with its config.</summary>
    public VaeFiles Vae { get; }

    /// <summary>Optimum writes a <c>config.json</c> into every component folder; the legacy converter writes none.</summary>
    public StableDiffusionLayout Layout { get; }

    /// <summary><c>model_index.json</c> names an SDXL pipeline.</summary>
    public bool DeclaresXl { get; }

    /// <summary><c>requires_aesthetics_score</c> of <c>model_index.json</c>, when stated.</summary>
    public bool? RequiresAestheticsScore { get; }

    /// <summary><c>force_zeros_for_empty_prompt</c> of <c>model_index.json</c> (true when absent, as diffusers' default).</summary>
    public bool ForceZerosForEmptyPrompt { get; }

    /// <summary>The VAE config's <c>scaling_factor</c> as written (checked where it is used, since the options may replace it).</summary>
    public double? ScalingFactor { get; }

    /// <summary>2^(blocks − 1) from the VAE's <c>block_out_channels</c>, else 8.</summary>
    public int VaeScaleFactor { get; }

    /// <summary>The VAE's <c>force_upcast</c>, when stated.</summary>
    public bool? ForceUpcast { get; }

    /// <summary>The VAE's <c>latent_channels</c>, when stated.</summary>
    public int? LatentChannels { get; }

    /// <summary>The UNet's <c>sample_size</c>, checked against the VAE factor.</summary>
    public int? SampleSize { get; }

    /// <summary>The UNet's <c>time_cond_proj_dim</c> (guidance-embedding width of LCM distillations), when stated.</summary>
    public int? TimeCondProjDim { get; }

    /// <summary>The text encoder's <c>hidden_size</c>, when stated.</summary>
    public int? TextEncoderWidth { get; }

    /// <summary>Reads and checks the folder's configs; <paramref name="vaeFolder"/> replaces the model's own VAE.</summary>
    /// <exception cref="ModelLoadException">A file is not a JSON object, or a value is of the wrong kind or out of range.</exception>
    public static ModelFolderConfigs Read(string root, string? vaeFolder = null) =>
        new(ComponentConfig.TryReadFile(Path.Combine(root, "model_index.json")), ComponentConfig.TryRead(root, "unet"),
            ComponentConfig.TryRead(root, "text_encoder"), VaeFiles.Find(root, vaeFolder));
}
