using System.Globalization;
using System.Text.Json;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Sdk.Onnx;

/// <summary>
/// A diffusion UNet exported to ONNX, run by ONNX Runtime. Load a pipeline folder
/// (<c>model_index.json</c>, <c>scheduler/scheduler_config.json</c>, <c>unet/model.onnx</c> with optional external
/// weight data beside it, <c>unet/config.json</c>) or a single <c>.onnx</c> file with <see cref="OnnxModelOptions"/>.
/// </summary>
/// <remarks>
/// <para>
/// The UNet's inputs are found from the ONNX metadata: the sample (<c>sample</c>, else the only rank-4 float input),
/// the timestep (<c>timestep</c>, else the only remaining integer or scalar-like input; int64, int32, float32 or
/// float16 of shape [], [1], [batch] or [batch, 1]), class labels (<c>class_labels</c>) and encoder hidden states
/// (<c>encoder_hidden_states</c>); <see cref="OnnxModelOptions"/> names them explicitly when an export uses other
/// names. Every mismatch is a <see cref="ModelLoadException"/> that names the file and what was expected.
/// </para>
/// <para>
/// One instance holds one ONNX Runtime session, whose <c>Run</c> is thread-safe: share the model and give each
/// sampling run its own <see cref="CreateDenoiser"/>. When the encoder hidden states have a dynamic sequence length,
/// <see cref="ModelInfo.EncoderHiddenStatesLength"/> is the per-token size and any whole number of tokens is accepted.
/// </para>
/// </remarks>
public sealed class OnnxDiffusionModel : IDiffusionModel
{
    /// <summary>The UNet inside a pipeline folder.</summary>
    public const string UnetModelPath = "unet/model.onnx";

    /// <summary>The scheduler configuration inside a pipeline folder.</summary>
    public const string SchedulerConfigPath = "scheduler/scheduler_config.json";

    /// <summary>The pipeline description inside a pipeline folder.</summary>
    public const string ModelIndexPath = "model_index.json";

    /// <summary>The UNet configuration inside a pipeline folder.</summary>
    public const string UnetConfigPath = "unet/config.json";

    // The session (and its merged LoRA weights), released only after the calls running on it have returned.
    private readonly GuardedSession _session;

    private OnnxDiffusionModel(InferenceSession session, OnnxSignature signature, ModelInfo info, SchedulerConfig? schedulerConfig,
        OnnxExecutionProvider provider, string modelPath, IReadOnlyList<string> components, OnnxInitializerOverrides? overrides)
    {
        _session = new GuardedSession(session, $"the UNet {modelPath}", overrides);
        Signature = signature;
        Info = info;
        SchedulerConfig = schedulerConfig;
        ExecutionProvider = provider;
        ModelPath = modelPath;
        Components = components;
    }

    /// <inheritdoc/>
    public ModelInfo Info { get; }

    private Lazy<int>? _latentMultiple;

    /// <summary>
    /// What the sample's height and width must be multiples of (2 per downsampling block: each downsampled map is joined
    /// with its upsampled twin, which an odd side cannot match). From <c>unet/config.json</c>'s <c>block_out_channels</c>,
    /// else the graph's strided convolutions (read on first use); 1 when neither tells.
    /// </summary>
    internal int LatentMultiple => _latentMultiple?.Value ?? 1;

    /// <inheritdoc/>
    public SchedulerConfig? SchedulerConfig { get; }

    /// <summary>The execution provider the session runs on: <see cref="OnnxExecutionProvider.Cpu"/> or <see cref="OnnxExecutionProvider.Cuda"/> (never Auto).</summary>
    public OnnxExecutionProvider ExecutionProvider { get; }

    /// <summary>The full path of the <c>.onnx</c> file that was loaded.</summary>
    public string ModelPath { get; }

    /// <summary>The components <c>model_index.json</c> lists (e.g. <c>unet</c>, <c>scheduler</c>, <c>vae_decoder</c>); empty for a bare file.</summary>
    public IReadOnlyList<string> Components { get; }

    internal OnnxSignature Signature { get; }

    /// <summary>The guarded session: model calls run through it (<see cref="GuardedSession.Run"/>).</summary>
    internal GuardedSession Guard => _session;

    /// <summary>The session itself, for callers that time bare runtime calls next to the SDK's (the benchmarks) and read its metadata; not guarded.</summary>
    internal InferenceSession Session => _session.Unguarded;

    /// <summary>Whether <see cref="Dispose"/> has been called.</summary>
    internal bool IsDisposed => _session.IsDisposed;

    /// <inheritdoc/>
    public IDenoiser CreateDenoiser()
    {
        _session.ThrowIfDisposed();
        return new OnnxDenoiser(this);
    }

    /// <summary>
    /// Releases the ONNX Runtime session. Model calls in flight are asked to stop and end with an
    /// <see cref="ObjectDisposedException"/>; the session is released after the last of them has returned, so
    /// disposing during a generation never pulls native memory from under a running call. Denoisers created from
    /// this model fail with <see cref="ObjectDisposedException"/> afterwards.
    /// </summary>
    public void Dispose() => _session.Dispose();

    /// <summary>
    /// Loads a pipeline folder or a single <c>.onnx</c> file. External weight data (<c>model.onnx_data</c> and the
    /// like) is read from beside the model file.
    /// </summary>
    /// <param name="path">A pipeline folder, or an <c>.onnx</c> file.</param>
    /// <param name="options">Execution provider, session settings, input names, and the scheduler facts for a bare file.</param>
    /// <param name="logger">Receives the provider fallback warning and notes on what was found.</param>
    /// <exception cref="ModelLoadException">The path is missing, a file is unreadable or corrupt, or the model lacks an input the SDK needs.</exception>
    public static OnnxDiffusionModel Load(string path, OnnxModelOptions? options = null, ILogger? logger = null) => LoadWithOverrides(path, options, logger, null);

    /// <summary>As <see cref="Load(string, OnnxModelOptions?, ILogger?)"/>, with initializer values that replace the file's (merged LoRA weights); the model owns them once loaded and releases them after its session.</summary>
    internal static OnnxDiffusionModel LoadWithOverrides(string path, OnnxModelOptions? options, ILogger? logger, OnnxInitializerOverrides? overrides)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        options ??= new OnnxModelOptions();
        logger ??= NullLogger.Instance;
        OnnxSessionFactory.Validate(options);

        var source = Path.GetFullPath(path);
        string modelFile;
        SchedulerConfig? fileConfig = null;
        JsonElement? unetConfig = null;
        IReadOnlyList<string> components = [];
        if (Directory.Exists(source))
        {
            modelFile = Path.Combine(source, UnetModelPath);
            if (!File.Exists(modelFile))
            {
                var hint = File.Exists(Path.Combine(source, "model.onnx"))
                    ? $" It holds a model.onnx directly: pass that file ('{Path.Combine(source, "model.onnx")}') instead."
                    : $" It holds: {Listing(source)}.";
                throw new ModelLoadException($"'{source}' is not a pipeline folder: '{modelFile}' does not exist. Expected {ModelIndexPath}, {SchedulerConfigPath} and {UnetModelPath} (with its external weight data, if any).{hint}");
            }
            components = ReadModelIndex(Path.Combine(source, ModelIndexPath), logger);
            var schedulerFile = Path.Combine(source, SchedulerConfigPath);
            if (File.Exists(schedulerFile)) fileConfig = ReadSchedulerConfig(schedulerFile, logger);
            var unetConfigFile = Path.Combine(source, UnetConfigPath);
            if (File.Exists(unetConfigFile)) unetConfig = ReadJsonObject(unetConfigFile);
        }
        else if (File.Exists(source))
        {
            modelFile = source;
        }
        else
        {
            throw new ModelLoadException($"Model path '{source}' does not exist. Expected a pipeline folder ({ModelIndexPath}, {SchedulerConfigPath}, {UnetModelPath}) or an .onnx file.");
        }

        var schedulerConfig = MergeSchedulerConfig(fileConfig, options, source);
        if (schedulerConfig is null)
            logger.LogWarning("Model '{Source}' has no scheduler configuration ({File}): set OnnxModelOptions.NumTrainTimesteps and PredictionType (or SchedulerConfig), or the sampler's defaults will be used.",
                source, SchedulerConfigPath);

        var session = OnnxSessionFactory.Create(modelFile, options, logger, out var provider, overrides);
        try
        {
            OnnxGraphShapes? graph = null;
            var graphRead = false;
            var signature = OnnxSignature.Discover(session.InputMetadata, session.OutputMetadata, options, modelFile,
                (int?)ConfigInteger(unetConfig, modelFile, "in_channels"), (int?)ConfigInteger(unetConfig, modelFile, "out_channels"),
                () =>
                {
                    // Read at most once, and only when the session leaves a channel count open.
                    if (!graphRead) graph = OnnxGraphShapes.TryRead(modelFile, logger);
                    graphRead = true;
                    return graph;
                });
            var metadata = ReadMetadata(session, modelFile);
            var info = BuildInfo(source, signature, options, unetConfig, metadata, modelFile);
            logger.LogInformation("Loaded {File} on {Provider}: sample '{Sample}' {SampleType} with {Channels} channels{Batch}, timestep '{Timestep}' {TimestepType} ({Layout}){Labels}{Hidden}, output '{Output}'.",
                modelFile, provider, signature.SampleName, OnnxSignature.TypeName(signature.SampleType), signature.Channels,
                signature.FixedBatch is { } b ? $", fixed batch {b}" : "", signature.TimestepName, OnnxSignature.TypeName(signature.TimestepType), signature.TimestepLayout,
                signature.ClassLabelsName is { } l ? $", class labels '{l}'" : "", signature.HiddenStatesName is { } h ? $", encoder hidden states '{h}'" : "", signature.OutputName);
            var blocks = unetConfig is { } c && c.TryGetProperty("block_out_channels", out var blockList) && blockList.ValueKind == JsonValueKind.Array ? blockList.GetArrayLength() : (int?)null;
            // The sides a sample must be multiples of: 2^(blocks − 1) from the config, else the graph's strided convolutions.
            var multiple = new Lazy<int>(() => blocks is >= 1 and <= 16 ? 1 << (blocks.Value - 1)
                : (int)Math.Min(1 << 16, (graphRead ? graph : OnnxGraphShapes.TryRead(modelFile, logger))?.ConvolutionDownsampling() ?? 1));
            return new OnnxDiffusionModel(session, signature, info, schedulerConfig, provider, modelFile, components, overrides) { _latentMultiple = multiple };
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    // ---- pipeline files ------------------------------------------------------------------------------------

    private static IReadOnlyList<string> ReadModelIndex(string file, ILogger logger)
    {
        if (!File.Exists(file))
        {
            logger.LogWarning("Pipeline folder has no {File}; loading {Unet} and {Scheduler} by their standard paths.", ModelIndexPath, UnetModelPath, SchedulerConfigPath);
            return [];
        }
        var index = ReadJsonObject(file);
        var components = index.EnumerateObject()
            .Where(p => !p.Name.StartsWith('_') && p.Value.ValueKind == JsonValueKind.Array)
            .Select(p => p.Name).ToList();
        var unused = components.Where(c => c is not ("unet" or "scheduler")).ToList();
        if (unused.Count > 0)
            logger.LogInformation("{File} lists {Components}; this loader uses the unet and the scheduler only.", file, string.Join(", ", unused));
        return components;
    }

    private static SchedulerConfig ReadSchedulerConfig(string file, ILogger logger)
    {
        try
        {
            return SchedulerConfigJson.Load(file, logger);
        }
        catch (SchedulerConfigException e)
        {
            throw new ModelLoadException($"{file} is not a usable scheduler configuration: {e.Message}", e);
        }
    }

    private static JsonElement ReadJsonObject(string file)
    {
        try
        {
            var text = BoundedFile.ReadAllText(file, SchedulerConfigJson.MaxFileBytes, problem => new ModelLoadException($"{file} could not be read: {problem}."));
            using var document = JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException($"{file} holds a JSON {document.RootElement.ValueKind.ToString().ToLowerInvariant()}; expected a JSON object.");
            JsonText.EnsureValid(document.RootElement, problem => new ModelLoadException($"{file}: {problem}."));
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"{file} is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}); expected a JSON object.", e);
        }
    }

    private static SchedulerConfig? MergeSchedulerConfig(SchedulerConfig? fromFile, OnnxModelOptions options, string source)
    {
        var config = options.SchedulerConfig ?? fromFile;
        if (config is null && options.NumTrainTimesteps is null && options.PredictionType is null) return null;
        // A copy, so that the caller's options object is never changed.
        config = config is null ? new SchedulerConfig() : SchedulerConfigJson.Parse(SchedulerConfigJson.Serialize(config), NullLogger.Instance, source);
        if (options.NumTrainTimesteps is { } steps) config.NumTrainTimesteps = steps;
        if (options.PredictionType is { } prediction) config.PredictionType = prediction;
        try
        {
            config.Validate(source);
        }
        catch (SchedulerConfigException e)
        {
            throw new ModelLoadException($"The scheduler configuration of '{source}' is invalid: {e.Message}", e);
        }
        return config;
    }

    private static Dictionary<string, string> ReadMetadata(InferenceSession session, string modelFile)
    {
        try
        {
            return new Dictionary<string, string>(session.ModelMetadata.CustomMetadataMap, StringComparer.Ordinal);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ModelLoadException($"{modelFile}: its metadata could not be read: {e.Message}", e);
        }
    }

    private static ModelInfo BuildInfo(string source, OnnxSignature signature, OnnxModelOptions options, JsonElement? unetConfig,
        Dictionary<string, string> metadata, string modelFile)
    {
        // Class facts: options first, then unet/config.json, then the ONNX metadata_props.
        long? unconditional = options.UnconditionalLabel
            ?? ConfigInteger(unetConfig, modelFile, "unconditional_label", "unconditional_class_label")
            ?? MetadataInteger(metadata, modelFile, "unconditional_label", "unconditional_class_label");
        var numClasses = options.NumClasses
            ?? (int?)ConfigInteger(unetConfig, modelFile, "num_classes")
            ?? (int?)MetadataInteger(metadata, modelFile, "num_classes");
        if (numClasses is <= 0)
            throw new ModelLoadException($"{modelFile}: num_classes = {numClasses}; expected a positive number of classes.");

        var hasLabels = signature.ClassLabelsName is not null;
        return new ModelInfo
        {
            Source = source,
            Channels = signature.Channels,
            InputChannels = signature.InputChannels == signature.Channels ? null : signature.InputChannels,
            Height = signature.Height,
            Width = signature.Width,
            FixedBatchSize = signature.FixedBatch,
            HasClassLabels = hasLabels,
            NumClasses = hasLabels ? numClasses : null,
            UnconditionalLabel = hasLabels ? unconditional : null,
            EncoderHiddenStatesLength = signature.HiddenStatesName is null ? null
                : (signature.HiddenStatesSequence ?? 1) * signature.HiddenStatesSize,
            ConditioningInputs = signature.ConditioningInputs.Select(c => new ModelInputInfo(c.Name, OnnxSignature.TypeName(c.Type), c.RowShape)).ToArray(),
        };
    }

    private static long? ConfigInteger(JsonElement? config, string modelFile, params string[] keys)
    {
        if (config is not { } c) return null;
        foreach (var key in keys)
        {
            if (!c.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null) continue;
            if (value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n)) return n;
            throw new ModelLoadException($"{Path.Combine(Path.GetDirectoryName(modelFile)!, "config.json")}: '{key}' = {value.GetRawText()}; expected an integer.");
        }
        return null;
    }

    private static long? MetadataInteger(Dictionary<string, string> metadata, string modelFile, params string[] keys)
    {
        foreach (var key in keys)
        {
            if (!metadata.TryGetValue(key, out var text)) continue;
            if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n)) return n;
            throw new ModelLoadException($"{modelFile}: metadata '{key}' = '{text}'; expected an integer.");
        }
        return null;
    }

    private static string Listing(string folder)
    {
        try
        {
            var entries = Directory.EnumerateFileSystemEntries(folder).Select(p => Directory.Exists(p) ? Path.GetFileName(p) + "/" : Path.GetFileName(p))
                .Order(StringComparer.Ordinal).Take(20).ToList();
            return entries.Count == 0 ? "nothing" : string.Join(", ", entries);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"(unreadable: {e.Message})";
        }
    }
}
