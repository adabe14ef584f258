using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Onnx;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// The CLIP text encoder of a Stable Diffusion export: token ids in, the last hidden state (one vector per token)
/// out, which the UNet takes as <c>encoder_hidden_states</c>. The ids' element type (int32 in the legacy layout,
/// int64 in Optimum's) and the names are read from the graph; an <c>attention_mask</c> input, where an export has
/// one, gets all ones (the reference pipeline passes none, and CLIP's causal mask makes the two the same).
/// SDXL's encoders are exported with every layer's output (<c>hidden_states.0</c> … <c>hidden_states.N</c>) and,
/// for the projection model, the pooled <c>text_embeds</c>: <see cref="EncodeHiddenState"/> reads those.
/// Thread-safe.
/// </summary>
public sealed class OnnxTextEncoder : IDisposable
{
    private static readonly string[] IdsNames = ["input_ids", "ids", "tokens"];
    private static readonly string[] MaskNames = ["attention_mask"];
    private static readonly string[] HiddenNames = ["last_hidden_state", "hidden_states"];

    private readonly OnnxComponent _component;
    private readonly string _idsName;
    private readonly string? _maskName;
    private readonly string? _outputName;
    private readonly SortedDictionary<int, string> _layers;
    private readonly string? _pooledName;

    internal OnnxTextEncoder(OnnxComponent component, int? layerCount = null)
    {
        _component = component;
        _idsName = component.FindInput(IdsNames, m => m is { IsTensor: true, Dimensions.Length: 2, ElementDataType: TensorElementType.Int32 or TensorElementType.Int64 },
            "token ids, int32 or int64 [batch, sequence]");
        _maskName = MaskNames.FirstOrDefault(component.Inputs.ContainsKey);
        var unknown = component.Inputs.Keys.Where(n => n != _idsName && n != _maskName).ToList();
        if (unknown.Count > 0)
            throw new ModelLoadException($"{component.File}: the text encoder has input{(unknown.Count > 1 ? "s" : "")} '{string.Join("', '", unknown)}' that the SDK does not know how to feed; it feeds '{_idsName}' (and 'attention_mask'). The file has {component.Describe()}.");
        _layers = HiddenStateOutputs.Find(component);
        try
        {
            // The legacy pipeline uses output 0; Optimum names it last_hidden_state.
            _outputName = component.FindOutput(HiddenNames, m => m is { IsTensor: true, Dimensions.Length: 3 } && OnnxSignature.IsFloat(m.ElementDataType),
                "the last hidden state, float [batch, sequence, hidden size]", firstOtherwise: true);
        }
        catch (ModelLoadException) when (_layers.Count > 0)
        {
            // An SDXL encoder needs only its per-layer outputs; Encode then says what is missing.
            _outputName = null;
        }
        // diffusers' SDXL pipelines take the pooled embedding from an encoder whose output 0 is 2-D: the projection
        // model's text_embeds (CLIPTextModel's pooler_output is not output 0 and is never used).
        _pooledName = component.Outputs.ContainsKey("text_embeds") ? "text_embeds"
            : component.Outputs.First() is { Value: { IsTensor: true, Dimensions.Length: 2 } first } && OnnxSignature.IsFloat(first.ElementDataType) ? component.Outputs.First().Key : null;
        LayerCount = layerCount ?? (_layers.Count > 0 ? _layers.Keys.Max() : null);
        var dims = component.Inputs[_idsName].Dimensions;
        SequenceLength = dims[1] > 0 ? dims[1] : null;
        var hidden = component.Outputs[_outputName ?? _layers.Values.First()].Dimensions;
        HiddenSize = hidden[2] > 0 ? hidden[2] : null;
        FixedBatch = dims[0] > 0 ? dims[0] : null;
        // Optimum writes the encoder's config beside it; its vocab_size bounds the ids (the embedding's Gather would
        // read a negative id from the end of the table, silently).
        var config = ComponentConfig.TryReadFile(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(component.File))!, "config.json"));
        // Without a config (the legacy export), the token embedding's rows in the graph say it.
        VocabularySize = config?.Integer("vocab_size") is > 0 and var vocabulary ? vocabulary
            : OnnxGraphShapes.TryRead(component.File, NullLogger.Instance)?.InitializerShapeEndingWith("token_embedding.weight") is [> 0 and <= int.MaxValue and var rows, _] ? (int)rows : null;
    }

    /// <summary>The number of token ids the encoder knows (<c>vocab_size</c> of its <c>config.json</c>), or null when no config says.</summary>
    public int? VocabularySize { get; }

    /// <summary>
    /// Opens a text encoder's <c>model.onnx</c>; <c>num_hidden_layers</c> is read from the <c>config.json</c> beside it
    /// where there is one (Optimum writes it), which tells which <c>hidden_states.N</c> is which layer.
    /// </summary>
    /// <param name="file">The <c>.onnx</c> file.</param>
    /// <param name="options">Execution provider and session settings; null: the defaults.</param>
    /// <param name="logger">Receives ONNX Runtime's provider messages; null: none.</param>
    /// <exception cref="ModelLoadException">The file is missing, unreadable, or lacks the inputs and outputs an encoder needs.</exception>
    public static OnnxTextEncoder Load(string file, OnnxModelOptions? options = null, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(file);
        var folder = Path.GetDirectoryName(Path.GetFullPath(file))!;
        var layers = ComponentConfig.TryReadFile(Path.Combine(folder, "config.json"))?.Integer("num_hidden_layers");
        var component = OnnxComponent.Open(file, "text encoder", options ?? new OnnxModelOptions(), logger ?? NullLogger.Instance);
        try
        {
            return new OnnxTextEncoder(component, layers);
        }
        catch
        {
            component.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Transformer layers: <c>num_hidden_layers</c> of the encoder's <c>config.json</c>, else the highest
    /// <c>hidden_states.N</c> output; null when the export has neither.
    /// </summary>
    public int? LayerCount { get; }

    /// <summary>The per-layer outputs the export has, by index (0: the embeddings; N: the last layer, before the final LayerNorm).</summary>
    public IReadOnlyDictionary<int, string> HiddenStateOutputNames => _layers;

    /// <summary>The pooled output (the projection model's <c>text_embeds</c>), or null when the encoder has none.</summary>
    public string? PooledOutputName => _pooledName;

    /// <summary>The pooled output's width when the export fixes it, else null.</summary>
    public int? PooledWidth => _pooledName is not null && _component.Outputs[_pooledName].Dimensions is [_, > 0 and var w] ? w : null;

    /// <summary>The model file.</summary>
    public string File => _component.File;

    internal OnnxComponent Component => _component;

    /// <summary>Tokens per prompt when the export fixes it (77 for CLIP), else null.</summary>
    public int? SequenceLength { get; }

    /// <summary>Values per token when the export declares it, else null (known after the first call).</summary>
    public int? HiddenSize { get; }

    /// <summary>The batch size the export is fixed to, or null.</summary>
    public int? FixedBatch { get; }

    /// <summary>Whether the graph computes in float16 (its hidden-state output is float16).</summary>
    public bool IsFloat16 => _component.Outputs[_outputName ?? _layers.Values.First()].ElementDataType == TensorElementType.Float16;

    /// <summary>The name of the token-id input and its element type, for messages and logs.</summary>
    public string InputDescription => $"'{_idsName}' {OnnxSignature.Describe(_component.Inputs[_idsName])}";

    /// <summary>Encodes one prompt's token ids; returns the last hidden state, [sequence, hidden size] flattened.</summary>
    /// <param name="ids">The ids, framed and padded as the tokenizer returns them.</param>
    /// <param name="cancellationToken">Stops the encoder call in flight.</param>
    /// <exception cref="ArgumentException">The ids are empty or do not match the export's fixed sequence length.</exception>
    /// <exception cref="NonFiniteOutputException">The encoder returned NaN or infinity.</exception>
    /// <exception cref="ObjectDisposedException">The encoder was disposed (also during the call).</exception>
    public float[] Encode(int[] ids, CancellationToken cancellationToken = default)
    {
        if (_outputName is null)
            throw new ModelLoadException($"{File}: the text encoder has no last hidden state output; the file has {_component.Describe()}.");
        return Run(ids, [_outputName], cancellationToken)[0];
    }

    /// <summary>
    /// Encodes one prompt's token ids as diffusers' SDXL pipelines do: the hidden state <paramref name="fromEnd"/>
    /// places from the end of <c>hidden_states</c> (2: <c>hidden_states[-2]</c>, the second-to-last layer's output,
    /// not passed through the final LayerNorm; <c>clip_skip = k</c> is <c>k + 2</c>), and the pooled
    /// <c>text_embeds</c> where the encoder has them.
    /// </summary>
    /// <param name="ids">The ids, framed and padded as the tokenizer returns them.</param>
    /// <param name="fromEnd">Which hidden state, counted from the end (1 is the last layer's output).</param>
    /// <param name="cancellationToken">Stops the encoder call in flight.</param>
    /// <returns>The hidden state [sequence, hidden size] flattened, and the pooled embedding or null.</returns>
    /// <exception cref="ModelLoadException">The export lacks that hidden state (the message names what it has).</exception>
    /// <exception cref="NonFiniteOutputException">The encoder returned NaN or infinity.</exception>
    /// <exception cref="ObjectDisposedException">The encoder was disposed (also during the call).</exception>
    public (float[] Hidden, float[]? Pooled) EncodeHiddenState(int[] ids, int fromEnd, CancellationToken cancellationToken = default)
    {
        var name = HiddenStateOutput(fromEnd);
        if (_pooledName is null) return (Run(ids, [name], cancellationToken)[0], null);
        var both = Run(ids, [name, _pooledName], cancellationToken);
        return (both[0], both[1]);
    }

    /// <summary>The output name of the hidden state <paramref name="fromEnd"/> places from the end (see <see cref="EncodeHiddenState"/>).</summary>
    /// <exception cref="ModelLoadException">The export lacks it.</exception>
    public string HiddenStateOutput(int fromEnd)
    {
        if (LayerCount is not { } layers || _layers.Count == 0)
            throw new ModelLoadException($"{File}: the text encoder exports no per-layer hidden states ('hidden_states.N' outputs), which SDXL's prompt encoding reads; export it with output_hidden_states=True (optimum does). The file has {_component.Describe()}.");
        // hidden_states has layers + 1 entries (the embeddings first), so index −k is layers + 1 − k.
        var index = layers + 1 - fromEnd;
        if (fromEnd < 1 || index < 0)
            throw new ModelLoadException($"{File}: hidden state {-fromEnd} (from the end) does not exist in a text encoder of {layers} layers; clip skip can be at most {layers - 1}.");
        return _layers.TryGetValue(index, out var name) ? name
            : throw new ModelLoadException($"{File}: the text encoder has no output 'hidden_states.{index}' (hidden state {-fromEnd} of a {layers}-layer encoder); it has {string.Join(", ", _layers.Values.Select(v => $"'{v}'"))}.");
    }

    // Runs one row of ids and returns the outputs, each of the first (only requested) item.
    private float[][] Run(int[] ids, string[] outputs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        _component.ThrowIfDisposed();
        if (ids.Length == 0) throw new ArgumentException("No token ids were given; the tokenizer frames every prompt with its start and end tokens.", nameof(ids));
        if (SequenceLength is { } s && ids.Length != s)
            throw new ArgumentException($"{File} takes {s} token ids per prompt; {ids.Length} were given.", nameof(ids));
        foreach (var id in ids)
            if (id < 0 || id >= VocabularySize)
                throw new ModelInputException($"The token id {id} is outside the vocabulary of the text encoder {File} (0 to {(VocabularySize is { } v ? (v - 1).ToString(System.Globalization.CultureInfo.InvariantCulture) : "its table size")}); " +
                    "the tokenizer does not belong to this encoder (a custom IPromptTokenizer must return ids the encoder knows).");
        var batch = FixedBatch ?? 1;
        var all = ids;
        if (batch > 1)
        {
            // A fixed batch: repeat the prompt and read the first row.
            all = new int[batch * ids.Length];
            for (var b = 0; b < batch; b++) ids.CopyTo(all, b * ids.Length);
        }
        long[] shape = [batch, ids.Length];
        var names = new List<string> { _idsName };
        var values = new List<OrtValue>();
        try
        {
            values.Add(_component.IntegerInput(_idsName, all, shape));
            if (_maskName is not null)
            {
                names.Add(_maskName);
                values.Add(_component.IntegerInput(_maskName, Enumerable.Repeat(1, all.Length).ToArray(), shape));
            }
            var results = _component.Run(names, values, outputs, cancellationToken);
            var read = new float[outputs.Length][];
            for (var i = 0; i < outputs.Length; i++)
            {
                var (output, outShape) = results[i];
                var pooled = outputs[i] == _pooledName;
                if (pooled ? outShape.Length != 2 || outShape[0] != batch : outShape.Length != 3 || outShape[0] != batch || outShape[1] != ids.Length)
                    throw new ModelLoadException($"{File}: the text encoder's output '{outputs[i]}' came back as [{string.Join(", ", outShape)}]; expected [{batch}, {(pooled ? "width" : $"{ids.Length}, hidden size")}].");
                var item = output.Length / batch;
                read[i] = batch == 1 ? output : output[..item];
                // A NaN here would pass through the UNet as black images; it is the encoder's fault, so it is named.
                NonFiniteOutputException.ThrowIfNonFinite(read[i], File, $"text encoder (output '{outputs[i]}')", IsFloat16);
            }
            return read;
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    /// <summary>Releases the session.</summary>
    public void Dispose() => _component.Dispose();
}
