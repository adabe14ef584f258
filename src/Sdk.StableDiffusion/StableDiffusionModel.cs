using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Lora;
using Diffusion.Sdk.Onnx;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// A Stable Diffusion ONNX export, loaded once: the tokenizer, the text encoder, the UNet (an
/// <see cref="OnnxDiffusionModel"/>), the VAE decoder and, when present, the VAE encoder, with the scheduler
/// configuration and the VAE's scaling factor. Both the legacy diffusers layout and Optimum's are read
/// (<see cref="StableDiffusionLayout"/>); every input name, element type and rank comes from the sessions.
/// Thread-safe: share one instance between pipelines and requests.
/// </summary>
public sealed class StableDiffusionModel : IDisposable
{
    /// <summary>SD 1.x's VAE scaling factor, which the legacy layout implies (no file stores it).</summary>
    public const double LegacyScalingFactor = 0.18215;

    private StableDiffusionModel(string folder, StableDiffusionLayout layout, IPromptTokenizer tokenizer, OnnxTextEncoder textEncoder,
        OnnxDiffusionModel unet, OnnxVaeDecoder vaeDecoder, OnnxVaeEncoder? vaeEncoder, double scalingFactor, int vaeScaleFactor, int? defaultSampleSize, int? guidanceEmbeddingDimension,
        LoraReport lora)
    {
        Lora = lora;
        Folder = folder;
        Layout = layout;
        Tokenizer = tokenizer;
        TextEncoder = textEncoder;
        Unet = unet;
        VaeDecoder = vaeDecoder;
        VaeEncoder = vaeEncoder;
        ScalingFactor = scalingFactor;
        VaeScaleFactor = vaeScaleFactor;
        DefaultSampleSize = defaultSampleSize;
        GuidanceEmbeddingDimension = guidanceEmbeddingDimension;
        IConditioner text = new ClipTextConditioner(tokenizer, textEncoder);
        Conditioner = guidanceEmbeddingDimension is { } d ? new GuidanceEmbeddingConditioner(text, d) : text;
    }

    /// <summary>The folder the model was loaded from.</summary>
    public string Folder { get; }

    /// <summary>Which exporter wrote it.</summary>
    public StableDiffusionLayout Layout { get; }

    /// <summary>The prompt tokenizer.</summary>
    public IPromptTokenizer Tokenizer { get; }

    /// <summary>The text encoder.</summary>
    public OnnxTextEncoder TextEncoder { get; }

    /// <summary>The UNet, with the folder's <c>scheduler/scheduler_config.json</c>.</summary>
    public OnnxDiffusionModel Unet { get; }

    /// <summary>The conditioning stage of this model's family (for SD 1.x/2.x: CLIP text, <see cref="ClipTextConditioner"/>).</summary>
    public IConditioner Conditioner { get; }

    /// <summary>
    /// The width of the UNet's guidance embedding (<c>timestep_cond</c>, an LCM UNet's <c>time_cond_proj_dim</c>), or null
    /// for a UNet without one. Such a UNet runs without classifier-free guidance and takes the request's guidance scale
    /// as <see cref="GuidanceScaleEmbedding"/> instead, as the reference's pipelines do.
    /// </summary>
    public int? GuidanceEmbeddingDimension { get; }

    /// <summary>The VAE decoder.</summary>
    public OnnxVaeDecoder VaeDecoder { get; }

    /// <summary>The VAE encoder (image to image), or null when the export has none.</summary>
    public OnnxVaeEncoder? VaeEncoder { get; }

    /// <summary>The scheduler configuration the model ships, or null.</summary>
    public SchedulerConfig? SchedulerConfig => Unet.SchedulerConfig;

    /// <summary>The VAE's scaling factor: latents are multiplied by it after encoding and divided by it before decoding.</summary>
    public double ScalingFactor { get; }

    /// <summary>Pixels per latent along each side: 2^(VAE blocks − 1) from the VAE's config, else 8.</summary>
    public int VaeScaleFactor { get; }

    /// <summary>The UNet's <c>sample_size</c> (latent side), when a config or the export fixes it; the default image side is this × <see cref="VaeScaleFactor"/>.</summary>
    public int? DefaultSampleSize { get; }

    /// <summary>The LoRA adapters merged into the weights (<see cref="StableDiffusionOptions.Loras"/>): every module applied or not, and why; <see cref="LoraReport.None"/> without adapters.</summary>
    public LoraReport Lora { get; }

    /// <summary>Latent channels (the UNet's sample channels).</summary>
    public int LatentChannels => Unet.Info.Channels;

    /// <summary>
    /// Loads a Stable Diffusion folder: <c>tokenizer/</c>, <c>text_encoder/model.onnx</c>, <c>unet/model.onnx</c> (with
    /// its external weight data), <c>vae_decoder/model.onnx</c>, optionally <c>vae_encoder/model.onnx</c>, and
    /// <c>scheduler/scheduler_config.json</c>.
    /// </summary>
    /// <exception cref="ModelLoadException">A part is missing, unreadable, or lacks an input or output the pipeline needs.</exception>
    public static StableDiffusionModel Load(string folder, StableDiffusionOptions? options = null, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        options ??= new StableDiffusionOptions();
        logger ??= NullLogger.Instance;
        var root = Path.GetFullPath(folder);
        if (!Directory.Exists(root))
            throw new ModelLoadException($"'{root}' is not a folder. Point the SDK at a Stable Diffusion ONNX export: a folder with model_index.json, tokenizer/, text_encoder/, unet/, vae_decoder/ and scheduler/.");
        var missing = new[] { "text_encoder/model.onnx", "unet/model.onnx", "vae_decoder/model.onnx" }
            .Where(p => !File.Exists(Path.Combine(root, p))).ToList();
        if (options.Tokenizer is null && !Directory.Exists(Path.Combine(root, "tokenizer"))) missing.Add("tokenizer/");
        if (missing.Count > 0)
            throw new ModelLoadException($"'{root}' is not a complete Stable Diffusion ONNX export: {string.Join(", ", missing)} {(missing.Count == 1 ? "is" : "are")} missing. " +
                "Export one with diffusers' convert_stable_diffusion_checkpoint_to_onnx.py or `optimum-cli export onnx`.");

        // Optimum writes a config.json into every component folder; the legacy converter writes none.
        var vaeConfig = ComponentConfig.TryRead(root, "vae_decoder") ?? ComponentConfig.TryRead(root, "vae_encoder") ?? ComponentConfig.TryRead(root, "vae");
        var unetConfig = ComponentConfig.TryRead(root, "unet");
        var layout = vaeConfig is not null || unetConfig is not null || File.Exists(Path.Combine(root, "text_encoder", "config.json"))
            ? StableDiffusionLayout.Optimum : StableDiffusionLayout.LegacyDiffusers;

        var scaling = options.ScalingFactor ?? vaeConfig?.Number("scaling_factor") ?? LegacyScalingFactor;
        if (!(scaling > 0) || !double.IsFinite(scaling))
            throw new ModelLoadException($"The VAE scaling factor is {scaling}; expected a finite number > 0 (set StableDiffusionOptions.ScalingFactor or fix 'scaling_factor' in {vaeConfig?.File ?? "the options"}).");
        var blocks = vaeConfig?.ArrayLength("block_out_channels");
        var vaeScale = blocks is > 0 ? 1 << (blocks.Value - 1) : 8;

        var tokenizer = options.Tokenizer ?? DefaultTokenizer(Path.Combine(root, "tokenizer"));
        var textEncoderFile = Path.Combine(root, "text_encoder", "model.onnx");
        // Adapters are read, checked and mapped onto the exports' weights before any session opens.
        var lora = options.Loras is { Count: > 0 } adapters
            ? LoraPlan.Create([.. adapters], new Dictionary<string, string> { ["text_encoder"] = textEncoderFile, ["unet"] = Path.Combine(root, OnnxDiffusionModel.UnetModelPath) })
            : null;
        if (lora is not null) logger.LogInformation("{Report}", lora.Report.ToString());
        var parts = new List<IDisposable>();
        try
        {
            var textEncoder = new OnnxTextEncoder(OpenWithOverrides(lora, "text_encoder", o => OnnxComponent.Open(textEncoderFile, "text encoder", options.Onnx, logger, o)));
            parts.Add(textEncoder);
            var unet = OpenWithOverrides(lora, "unet", o => OnnxDiffusionModel.LoadWithOverrides(root, options.Onnx, logger, o));
            parts.Add(unet);
            if (unet.Info.EncoderHiddenStatesLength is null)
                throw new ModelLoadException($"{unet.ModelPath} takes no encoder hidden states, so it is not a text-to-image UNet.");
            var vaeDecoder = new OnnxVaeDecoder(OnnxComponent.Open(Path.Combine(root, "vae_decoder", "model.onnx"), "VAE decoder", options.Onnx, logger));
            parts.Add(vaeDecoder);
            OnnxVaeEncoder? vaeEncoder = null;
            var encoderFile = Path.Combine(root, "vae_encoder", "model.onnx");
            if (File.Exists(encoderFile))
            {
                vaeEncoder = new OnnxVaeEncoder(OnnxComponent.Open(encoderFile, "VAE encoder", options.Onnx, logger));
                parts.Add(vaeEncoder);
            }
            var sampleSize = unet.Info.Height ?? unetConfig?.Integer("sample_size");
            var embedding = GuidanceEmbeddingWidth(unet, unetConfig);
            logger.LogInformation("Loaded Stable Diffusion ({Layout} layout) from {Folder}: text encoder {Ids}, scaling factor {Scaling}, VAE factor {Factor}{Encoder}.",
                layout, root, textEncoder.InputDescription, scaling, vaeScale, vaeEncoder is null ? ", no VAE encoder" : $", VAE encoder output '{vaeEncoder.OutputName}'");
            return new StableDiffusionModel(root, layout, tokenizer, textEncoder, unet, vaeDecoder, vaeEncoder, scaling, vaeScale, sampleSize, embedding, lora?.Report ?? LoraReport.None);
        }
        catch
        {
            foreach (var part in parts) part.Dispose();
            throw;
        }
    }

    /// <summary>Encodes one prompt: tokenizer, then text encoder; returns the last hidden state [sequence, hidden size].</summary>
    public float[] EncodePrompt(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return TextEncoder.Encode(Tokenizer.Encode(prompt));
    }

    /// <summary>Releases every session.</summary>
    public void Dispose()
    {
        TextEncoder.Dispose();
        Unet.Dispose();
        VaeDecoder.Dispose();
        VaeEncoder?.Dispose();
    }

    // The timestep_cond input's width: fixed in the session, else unet/config.json's time_cond_proj_dim.
    private static int? GuidanceEmbeddingWidth(OnnxDiffusionModel unet, ComponentConfig? unetConfig)
    {
        if (unet.Info.FindConditioningInput(GuidanceScaleEmbedding.InputName) is not { } input) return null;
        var width = input.RowShape is [{ } fixedWidth] ? fixedWidth : unetConfig?.Integer("time_cond_proj_dim");
        return width is >= 4 ? width
            : throw new ModelLoadException($"{unet.ModelPath}: the guidance-embedding input '{input.Name}' is [batch, {string.Join(", ", input.RowShape.Select(d => d?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"))}]; " +
                "expected [batch, width] with a fixed width of at least 4 (or 'time_cond_proj_dim' in unet/config.json).");
    }

    private static IPromptTokenizer DefaultTokenizer(string folder) => ClipPromptTokenizer.FromFolder(folder);

    // Opens a part with its merged LoRA weights as initializer overrides (none when no adapter changes it); the part
    // owns them once open.
    private static T OpenWithOverrides<T>(LoraPlan? plan, string component, Func<OnnxInitializerOverrides?, T> open)
    {
        var merged = plan?.Merge(component) ?? [];
        if (merged.Count == 0) return open(null);
        var overrides = new OnnxInitializerOverrides();
        try
        {
            foreach (var weight in merged) overrides.Add(weight.Name, weight.Values, weight.Dims, weight.DataType);
            return open(overrides);
        }
        catch
        {
            overrides.Dispose();
            throw;
        }
    }
}
