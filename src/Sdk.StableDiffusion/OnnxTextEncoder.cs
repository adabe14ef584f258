using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// The CLIP text encoder of a Stable Diffusion export: token ids in, the last hidden state (one vector per token)
/// out, which the UNet takes as <c>encoder_hidden_states</c>. The ids' element type (int32 in the legacy layout,
/// int64 in Optimum's) and the names are read from the graph; an <c>attention_mask</c> input, where an export has
/// one, gets all ones (the reference pipeline passes none, and CLIP's causal mask makes the two the same).
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
    private readonly string _outputName;

    internal OnnxTextEncoder(OnnxComponent component)
    {
        _component = component;
        _idsName = component.FindInput(IdsNames, m => m is { IsTensor: true, Dimensions.Length: 2, ElementDataType: TensorElementType.Int32 or TensorElementType.Int64 },
            "token ids, int32 or int64 [batch, sequence]");
        _maskName = MaskNames.FirstOrDefault(component.Inputs.ContainsKey);
        var unknown = component.Inputs.Keys.Where(n => n != _idsName && n != _maskName).ToList();
        if (unknown.Count > 0)
            throw new ModelLoadException($"{component.File}: the text encoder has input{(unknown.Count > 1 ? "s" : "")} '{string.Join("', '", unknown)}' that the SDK does not know how to feed; it feeds '{_idsName}' (and 'attention_mask'). The file has {component.Describe()}.");
        // The legacy pipeline uses output 0; Optimum names it last_hidden_state.
        _outputName = component.FindOutput(HiddenNames, m => m is { IsTensor: true, Dimensions.Length: 3 } && OnnxSignature.IsFloat(m.ElementDataType),
            "the last hidden state, float [batch, sequence, hidden size]", firstOtherwise: true);
        var dims = component.Inputs[_idsName].Dimensions;
        SequenceLength = dims[1] > 0 ? dims[1] : null;
        var hidden = component.Outputs[_outputName].Dimensions;
        HiddenSize = hidden[2] > 0 ? hidden[2] : null;
        FixedBatch = dims[0] > 0 ? dims[0] : null;
    }

    /// <summary>The model file.</summary>
    public string File => _component.File;

    internal OnnxComponent Component => _component;

    /// <summary>Tokens per prompt when the export fixes it (77 for CLIP), else null.</summary>
    public int? SequenceLength { get; }

    /// <summary>Values per token when the export declares it, else null (known after the first call).</summary>
    public int? HiddenSize { get; }

    /// <summary>The batch size the export is fixed to, or null.</summary>
    public int? FixedBatch { get; }

    /// <summary>The name of the token-id input and its element type, for messages and logs.</summary>
    public string InputDescription => $"'{_idsName}' {OnnxSignature.Describe(_component.Inputs[_idsName])}";

    /// <summary>Encodes one prompt's token ids; returns the last hidden state, [sequence, hidden size] flattened.</summary>
    /// <param name="ids">The ids, framed and padded as the tokenizer returns them.</param>
    /// <exception cref="ArgumentException">The ids are empty or do not match the export's fixed sequence length.</exception>
    public float[] Encode(int[] ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Length == 0) throw new ArgumentException("No token ids were given; the tokenizer frames every prompt with its start and end tokens.", nameof(ids));
        if (SequenceLength is { } s && ids.Length != s)
            throw new ArgumentException($"{File} takes {s} token ids per prompt; {ids.Length} were given.", nameof(ids));
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
            var (output, outShape) = _component.Run(names, values, _outputName);
            if (outShape.Length != 3 || outShape[0] != batch || outShape[1] != ids.Length)
                throw new ModelLoadException($"{File}: the text encoder's output '{_outputName}' came back as [{string.Join(", ", outShape)}]; expected [{batch}, {ids.Length}, hidden size].");
            var item = (int)(outShape[1] * outShape[2]);
            return batch == 1 ? output : output[..item];
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    /// <summary>Releases the session.</summary>
    public void Dispose() => _component.Dispose();
}
