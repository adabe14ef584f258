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
/// (<see cref="StableDiffusionLayout"/>); every input name, element type and rank comes from the sessions. An SDXL
/// export (base, Turbo-style or refiner: a <c>text_encoder_2/</c>) is recognised from its files and has
/// <see cref="Xl"/>. Thread-safe: share one instance between pipelines and requests. Disposing it at any moment is
/// safe: a component call in flight is stopped and waited for before its session is released, and every use
/// afterwards (the components, <see cref="EncodePrompt"/>, a pipeline over it) is an <see cref="ObjectDisposedException"/>.
/// </summary>
public sealed class StableDiffusionModel : IDisposable
{
    /// <summary>SD 1.x's VAE scaling factor, which the legacy layout implies (no file stores it).</summary>
    public const double LegacyScalingFactor = 0.18215;

    // The session-holding parts, shared with the models WithLoras makes from this one where their adapters leave a part as it is.
    private readonly SharedPart<OnnxTextEncoder> _textEncoder;
    private readonly SharedPart<OnnxDiffusionModel> _unet;
    private readonly SharedPart<OnnxVaeDecoder> _vaeDecoder;
    private readonly SharedPart<OnnxVaeEncoder>? _vaeEncoder;
    private readonly LoraSetup _lora;
    private int _disposed;

    private StableDiffusionModel(string folder, StableDiffusionLayout layout, IPromptTokenizer tokenizer, SharedPart<OnnxTextEncoder> textEncoder,
        SharedPart<OnnxDiffusionModel> unet, SharedPart<OnnxVaeDecoder> vaeDecoder, SharedPart<OnnxVaeEncoder>? vaeEncoder, double scalingFactor, int vaeScaleFactor, int? defaultSampleSize,
        int? guidanceEmbeddingDimension, LoraSetup lora, StableDiffusionXLInfo? xl = null)
    {
        Xl = xl;
        _textEncoder = textEncoder;
        _unet = unet;
        _vaeDecoder = vaeDecoder;
        _vaeEncoder = vaeEncoder;
        _lora = lora;
        Folder = folder;
        Layout = layout;
        Tokenizer = tokenizer;
        ScalingFactor = scalingFactor;
        VaeScaleFactor = vaeScaleFactor;
        DefaultSampleSize = defaultSampleSize;
        GuidanceEmbeddingDimension = guidanceEmbeddingDimension;
        var longPrompts = xl is null && tokenizer is ClipPromptTokenizer clip ? new LongPromptConditioner(new LongPromptEncoder(clip.Tokenizer, textEncoder.Value), unet.Value) : null;
        IConditioner text = xl is null ? new ClipTextConditioner(tokenizer, textEncoder.Value, longPrompts) : new SdxlTextConditioner(xl);
        Conditioner = guidanceEmbeddingDimension is { } d ? new GuidanceEmbeddingConditioner(text, d) : text;
    }

    // What WithLoras needs to open a part again: the settings, and per part the adapters that changed it.
    private sealed record LoraSetup(LoraReport Report, OnnxModelOptions Onnx, ILogger Logger, string TextEncoderSignature, string UnetSignature);

    /// <summary>The folder the model was loaded from.</summary>
    public string Folder { get; }

    /// <summary>Which exporter wrote it.</summary>
    public StableDiffusionLayout Layout { get; }

    /// <summary>The prompt tokenizer (SDXL: the first encoder's, that of <c>tokenizer/</c>, or <c>tokenizer_2/</c> for a refiner).</summary>
    public IPromptTokenizer Tokenizer { get; }

    /// <summary>The SDXL parts (second text encoder, added UNet inputs, pipeline settings), or null for SD 1.x/2.x.</summary>
    public StableDiffusionXLInfo? Xl { get; }

    /// <summary>The text encoder.</summary>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public OnnxTextEncoder TextEncoder => Alive(_textEncoder).Value;

    /// <summary>The UNet, with the folder's <c>scheduler/scheduler_config.json</c>.</summary>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public OnnxDiffusionModel Unet => Alive(_unet).Value;

    /// <summary>The conditioning stage of this model's family (for SD 1.x/2.x: CLIP text, <see cref="ClipTextConditioner"/>).</summary>
    public IConditioner Conditioner { get; }

    /// <summary>
    /// The width of the UNet's guidance embedding (<c>timestep_cond</c>, an LCM UNet's <c>time_cond_proj_dim</c>), or null
    /// for a UNet without one. Such a UNet runs without classifier-free guidance and takes the request's guidance scale
    /// as <see cref="GuidanceScaleEmbedding"/> instead, as the reference's pipelines do.
    /// </summary>
    public int? GuidanceEmbeddingDimension { get; }

    /// <summary>The VAE decoder.</summary>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public OnnxVaeDecoder VaeDecoder => Alive(_vaeDecoder).Value;

    /// <summary>The VAE encoder (image to image), or null when the export has none.</summary>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public OnnxVaeEncoder? VaeEncoder => Alive(_vaeEncoder)?.Value;

    /// <summary>The scheduler configuration the model ships, or null.</summary>
    public SchedulerConfig? SchedulerConfig => Unet.SchedulerConfig;

    /// <summary>The VAE's scaling factor: latents are multiplied by it after encoding and divided by it before decoding.</summary>
    public double ScalingFactor { get; }

    /// <summary>Pixels per latent along each side: 2^(VAE blocks − 1) from the VAE's config, else 8.</summary>
    public int VaeScaleFactor { get; }

    /// <summary>The UNet's <c>sample_size</c> (latent side), when a config or the export fixes it; the default image side is this × <see cref="VaeScaleFactor"/>.</summary>
    public int? DefaultSampleSize { get; }

    /// <summary>The LoRA adapters merged into the weights (<see cref="StableDiffusionOptions.Loras"/>): every module applied or not, and why; <see cref="LoraReport.None"/> without adapters.</summary>
    public LoraReport Lora => _lora.Report;

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
        var configs = ModelFolderConfigs.Read(root, options.VaeFolder);
        var isXl = SdxlFolder.IsXl(root, configs);
        var vae = configs.Vae;
        var missing = new[] { isXl ? null : "text_encoder/model.onnx", "unet/model.onnx", options.VaeFolder is null ? "vae_decoder/model.onnx" : null }
            .Where(p => p is not null && !File.Exists(Path.Combine(root, p))).Select(p => p!).ToList();
        if (!isXl && options.Tokenizer is null && !Directory.Exists(Path.Combine(root, "tokenizer"))) missing.Add("tokenizer/");
        // Without the scheduler's configuration every sampler would run on its defaults, a schedule the model was not
        // trained with: refused, unless the options give the schedule.
        var onnx = options.Onnx;
        if (onnx.SchedulerConfig is null && onnx.NumTrainTimesteps is null && onnx.PredictionType is null && !File.Exists(Path.Combine(root, OnnxDiffusionModel.SchedulerConfigPath)))
            missing.Add(OnnxDiffusionModel.SchedulerConfigPath + " (or a schedule in StableDiffusionOptions.Onnx.SchedulerConfig)");
        if (missing.Count > 0)
            throw new ModelLoadException($"'{root}' is not a complete Stable Diffusion ONNX export: {string.Join(", ", missing)} {(missing.Count == 1 ? "is" : "are")} missing. " +
                "Export one with diffusers' convert_stable_diffusion_checkpoint_to_onnx.py or `optimum-cli export onnx`.");

        var vaeConfig = vae.Config;
        var layout = configs.Layout;
        var scaling = ComponentConsistency.ScalingFactor(options.ScalingFactor ?? configs.ScalingFactor ?? LegacyScalingFactor,
            options.ScalingFactor is not null ? "StableDiffusionOptions.ScalingFactor" : vaeConfig?.File ?? "the default");
        var vaeScale = configs.VaeScaleFactor;

        if (isXl && options.Loras is { Count: > 0 })
            throw new ModelLoadException($"'{root}' is an SDXL export; LoRA adapters are supported for SD 1.x/2.x exports only so far (SDXL's second text encoder is not mapped). Load it without StableDiffusionOptions.Loras / --lora.");
        // Adapters are read, checked and mapped onto the exports' weights before any session opens.
        var lora = PlanLoras(root, options.Loras, logger);
        var parts = new List<IDisposable>();
        try
        {
            IPromptTokenizer tokenizer;
            OnnxTextEncoder textEncoder;
            SdxlTextEncoders? xlEncoders = null;
            if (isXl)
            {
                // SDXL: text_encoder (when present) and text_encoder_2, each with its tokenizer; the first is TextEncoder.
                xlEncoders = SdxlFolder.LoadTextEncoders(root, options.Onnx, logger, options.Tokenizer, parts);
                (_, tokenizer, textEncoder) = xlEncoders.Pairs[0];
            }
            else
            {
                tokenizer = options.Tokenizer ?? DefaultTokenizer(Path.Combine(root, "tokenizer"));
                textEncoder = OpenTextEncoder(root, lora, options.Onnx, logger);
                parts.Add(textEncoder);
            }
            var unet = OpenUnet(root, lora, options.Onnx, logger);
            parts.Add(unet);
            if (unet.Info.EncoderHiddenStatesLength is null)
                throw new ModelLoadException($"{unet.ModelPath} takes no encoder hidden states, so it is not a text-to-image UNet.");
            var xl = xlEncoders is null ? null : SdxlUnetInputs.Read(configs, unet, xlEncoders);
            var forceUpcast = configs.ForceUpcast;
            var vaeDecoder = new OnnxVaeDecoder(OnnxComponent.Open(vae.Decoder, "VAE decoder", options.Onnx, logger)) { ForceUpcast = forceUpcast };
            parts.Add(vaeDecoder);
            OnnxVaeEncoder? vaeEncoder = null;
            if (vae.Encoder is { } encoderFile)
            {
                vaeEncoder = new OnnxVaeEncoder(OnnxComponent.Open(encoderFile, "VAE encoder", options.Onnx, logger)) { ForceUpcast = forceUpcast };
                parts.Add(vaeEncoder);
            }
            var sampleSize = unet.Info.Height is { } fixedHeight
                ? ComponentConsistency.SampleSize(fixedHeight, vaeScale, unet.ModelPath, vaeConfig?.File ?? "the default of 8")
                : configs.SampleSize;
            if (xl is null) ComponentConsistency.TextEncoderFitsUnet(textEncoder, configs.TextEncoderWidth, unet);
            foreach (var (name, pairTokenizer, encoder) in xlEncoders?.Pairs.Select(p => (p.Name, p.Tokenizer, p.Encoder)) ?? [("text_encoder", tokenizer, textEncoder)])
                ComponentConsistency.TokenizerFitsEncoder(pairTokenizer, Path.Combine(root, name.Replace("text_encoder", "tokenizer", StringComparison.Ordinal)), encoder);
            ComponentConsistency.VaeFitsUnet(vaeDecoder, vaeEncoder, configs, unet);
            var embedding = GuidanceEmbeddingWidth(unet, configs);
            logger.LogInformation("Loaded Stable Diffusion{Xl} ({Layout} layout) from {Folder}: text encoder {Ids}, scaling factor {Scaling}, VAE factor {Factor}{Encoder}.",
                xl is null ? "" : xl.RequiresAestheticsScore ? " XL refiner" : " XL", layout, root, textEncoder.InputDescription, scaling, vaeScale,
                vaeEncoder is null ? ", no VAE encoder" : $", VAE encoder output '{vaeEncoder.OutputName}'");
            return new StableDiffusionModel(root, layout, tokenizer, new(textEncoder), new(unet), new(vaeDecoder), vaeEncoder is null ? null : new(vaeEncoder),
                scaling, vaeScale, sampleSize, embedding, Setup(lora, options.Onnx, logger), xl);
        }
        catch
        {
            foreach (var part in parts) part.Dispose();
            throw;
        }
    }

    /// <summary>Encodes one prompt: tokenizer, then text encoder; returns the last hidden state [sequence, hidden size].</summary>
    /// <exception cref="ObjectDisposedException">The model has been disposed (also during the call).</exception>
    public float[] EncodePrompt(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ThrowIfDisposed();
        return TextEncoder.Encode(Tokenizer.Encode(prompt));
    }

    /// <summary>Whether <see cref="Dispose"/> has been called.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    internal void ThrowIfDisposed()
    {
        if (IsDisposed) throw new ObjectDisposedException(Folder, $"The Stable Diffusion model {Folder} was disposed; load it again to use it.");
    }

    // A part, if this model is still alive: a part shared with a model made by WithLoras outlives this one's Dispose,
    // and must not be reachable through it.
    private T Alive<T>(T part)
    {
        ThrowIfDisposed();
        return part;
    }

    /// <summary>
    /// The same export with other LoRA adapters (an empty list: none). Only the parts whose weights change are opened
    /// again: a part the old and the new adapters give the same weights (the VAE always; the text encoder when no
    /// adapter touches it) shares this model's session. Adapters are read, checked and mapped before any session
    /// opens, with the errors of <see cref="Load"/>. This model stays usable; dispose both (a shared session is
    /// released with the last model that holds it).
    /// </summary>
    /// <exception cref="ModelLoadException">An adapter cannot be applied (<see cref="LoraAdapterException"/>, <see cref="Diffusion.Sdk.Lora.SafeTensors.SafeTensorsException"/>) or a part cannot be opened.</exception>
    public StableDiffusionModel WithLoras(IReadOnlyList<LoraAdapter> loras)
    {
        ArgumentNullException.ThrowIfNull(loras);
        ThrowIfDisposed();
        if (Xl is not null)
            throw new ModelLoadException($"'{Folder}' is an SDXL export; LoRA adapters are supported for SD 1.x/2.x exports only so far.");
        var plan = PlanLoras(Folder, [.. loras], _lora.Logger);
        var setup = Setup(plan, _lora.Onnx, _lora.Logger);
        SharedPart<OnnxTextEncoder>? textEncoder = null;
        SharedPart<OnnxDiffusionModel>? unet = null;
        try
        {
            textEncoder = setup.TextEncoderSignature == _lora.TextEncoderSignature ? _textEncoder.Share() : new(OpenTextEncoder(Folder, plan, _lora.Onnx, _lora.Logger));
            unet = setup.UnetSignature == _lora.UnetSignature ? _unet.Share() : new(OpenUnet(Folder, plan, _lora.Onnx, _lora.Logger));
            _lora.Logger.LogInformation("LoRA switch: text encoder {TextEncoder}, UNet {Unet}, VAE shared.",
                ReferenceEquals(textEncoder, _textEncoder) ? "shared" : "rebuilt", ReferenceEquals(unet, _unet) ? "shared" : "rebuilt");
            return new StableDiffusionModel(Folder, Layout, Tokenizer, textEncoder, unet, _vaeDecoder.Share(), _vaeEncoder?.Share(),
                ScalingFactor, VaeScaleFactor, DefaultSampleSize, GuidanceEmbeddingDimension, setup);
        }
        catch
        {
            textEncoder?.Release();
            unet?.Release();
            throw;
        }
    }

    /// <summary>Whether this model and <paramref name="other"/> run the same text-encoder session (for tests and diagnostics).</summary>
    internal bool SharesTextEncoderWith(StableDiffusionModel other) => ReferenceEquals(_textEncoder, other._textEncoder);

    /// <summary>Whether this model and <paramref name="other"/> run the same UNet session.</summary>
    internal bool SharesUnetWith(StableDiffusionModel other) => ReferenceEquals(_unet, other._unet);

    /// <summary>
    /// Releases every session (a session shared with a model made by <see cref="WithLoras"/> lives on until that model
    /// is disposed too). A component call in flight is stopped and waited for first; the run it belongs to ends with an
    /// <see cref="ObjectDisposedException"/>.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _textEncoder.Release();
        _unet.Release();
        _vaeDecoder.Release();
        _vaeEncoder?.Release();
        // SDXL's encoders after the first (which _textEncoder holds).
        if (Xl is not null)
            foreach (var pair in Xl.TextEncoders.Pairs.Skip(1)) pair.Encoder.Dispose();
    }

    // The timestep_cond input's width: fixed in the session, else unet/config.json's time_cond_proj_dim.
    private static int? GuidanceEmbeddingWidth(OnnxDiffusionModel unet, ModelFolderConfigs configs)
    {
        if (unet.Info.FindConditioningInput(GuidanceScaleEmbedding.InputName) is not { } input) return null;
        var width = input.RowShape is [{ } fixedWidth] ? fixedWidth : configs.TimeCondProjDim;
        return width is >= 4 ? width
            : throw new ModelLoadException($"{unet.ModelPath}: the guidance-embedding input '{input.Name}' is [batch, {string.Join(", ", input.RowShape.Select(d => d?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"))}]; " +
                "expected [batch, width] with a fixed width of at least 4 (or 'time_cond_proj_dim' in unet/config.json).");
    }

    private static LoraPlan? PlanLoras(string root, IList<LoraAdapter>? loras, ILogger logger)
    {
        if (loras is not { Count: > 0 }) return null;
        var plan = LoraPlan.Create([.. loras], new Dictionary<string, string>
        {
            ["text_encoder"] = Path.Combine(root, "text_encoder", "model.onnx"),
            ["unet"] = Path.Combine(root, OnnxDiffusionModel.UnetModelPath),
        });
        logger.LogInformation("{Report}", plan.Report.ToString());
        return plan;
    }

    private static LoraSetup Setup(LoraPlan? plan, OnnxModelOptions onnx, ILogger logger) =>
        new(plan?.Report ?? LoraReport.None, onnx, logger, plan?.Signature("text_encoder") ?? "", plan?.Signature("unet") ?? "");

    private static OnnxTextEncoder OpenTextEncoder(string root, LoraPlan? plan, OnnxModelOptions onnx, ILogger logger) =>
        new(OpenWithOverrides(plan, "text_encoder", o => OnnxComponent.Open(Path.Combine(root, "text_encoder", "model.onnx"), "text encoder", onnx, logger, o)));

    private static OnnxDiffusionModel OpenUnet(string root, LoraPlan? plan, OnnxModelOptions onnx, ILogger logger) =>
        OpenWithOverrides(plan, "unet", o => OnnxDiffusionModel.LoadWithOverrides(root, onnx, logger, o));

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
