using System.Globalization;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Sdk.Onnx;

/// <summary>How a model takes its timestep.</summary>
internal enum TimestepLayout
{
    /// <summary>Shape [] — one value for the whole batch.</summary>
    Scalar,
    /// <summary>Shape [1] — one value for the whole batch.</summary>
    One,
    /// <summary>Shape [B] — one value per item.</summary>
    PerItem,
    /// <summary>Shape [B, 1] — one value per item.</summary>
    PerItemColumn,
}

/// <summary>A per-item conditioning input: its name, element type and dimensions after the batch (null: open).</summary>
internal sealed record ConditioningInputSignature(string Name, TensorElementType Type, int?[] RowShape);

/// <summary>
/// The roles of a UNet's inputs and output, discovered from the ONNX metadata: which input is the sample, the
/// timestep, the class labels and the encoder hidden states, with their element types and shapes.
/// </summary>
internal sealed record OnnxSignature
{
    public required string SampleName { get; init; }
    public required TensorElementType SampleType { get; init; }
    /// <summary>The output's channels: the latent's (the sample's own, except for UNets that take extra input channels).</summary>
    public required int Channels { get; init; }
    /// <summary>The sample input's channels: <see cref="Channels"/>, or more for a UNet that reads extra channels (inpainting: 9).</summary>
    public required int InputChannels { get; init; }
    public int? Height { get; init; }
    public int? Width { get; init; }
    public int? FixedBatch { get; init; }

    public required string TimestepName { get; init; }
    public required TensorElementType TimestepType { get; init; }
    public required TimestepLayout TimestepLayout { get; init; }

    public string? ClassLabelsName { get; init; }
    public TensorElementType ClassLabelsType { get; init; }

    public string? HiddenStatesName { get; init; }
    public TensorElementType HiddenStatesType { get; init; }
    /// <summary>Tokens per item, or null when the sequence length is dynamic.</summary>
    public int? HiddenStatesSequence { get; init; }
    /// <summary>Values per token.</summary>
    public int HiddenStatesSize { get; init; }

    /// <summary>Other per-item inputs, fed by name from the run's <see cref="ModelConditioning"/>.</summary>
    public IReadOnlyList<ConditioningInputSignature> ConditioningInputs { get; init; } = [];

    public required string OutputName { get; init; }
    public required TensorElementType OutputType { get; init; }

    /// <summary>Every input, described for messages: <c>name: type [dims]</c>.</summary>
    public required string InputsDescription { get; init; }

    private static readonly string[] SampleNames = ["sample", "latent_model_input", "latents", "noisy_sample"];
    private static readonly string[] TimestepNames = ["timestep", "timesteps", "t"];
    private static readonly string[] ClassLabelsNames = ["class_labels", "class_label", "labels", "label", "y"];
    private static readonly string[] HiddenStatesNames = ["encoder_hidden_states", "context"];
    private static readonly string[] OutputNames = ["out_sample", "noise_pred", "sample"];

    /// <summary>Reads the roles from the session's metadata.</summary>
    /// <param name="inputs">The session's input metadata.</param>
    /// <param name="outputs">The session's output metadata.</param>
    /// <param name="options">Explicit names, when the caller gave any.</param>
    /// <param name="file">The model file, for messages.</param>
    /// <param name="configChannels">The sample's channels from <c>unet/config.json</c> (<c>in_channels</c>), for exports whose channel dimension is dynamic.</param>
    /// <param name="configOutChannels">The output's channels from <c>unet/config.json</c> (<c>out_channels</c>).</param>
    /// <param name="graph">The graph's weight shapes, read on demand when the session leaves a channel count open.</param>
    /// <exception cref="ModelLoadException">An input or output is missing, ambiguous, or of the wrong type or rank.</exception>
    public static OnnxSignature Discover(IReadOnlyDictionary<string, NodeMetadata> inputs, IReadOnlyDictionary<string, NodeMetadata> outputs, OnnxModelOptions options, string file,
        int? configChannels = null, int? configOutChannels = null, Func<OnnxGraphShapes?>? graph = null)
    {
        var described = Describe(inputs);
        var remaining = inputs.Keys.ToList();

        // 1. The sample: named, or "sample", or the only rank-4 float input.
        var sample = Explicit(options.SampleInput, nameof(OnnxModelOptions.SampleInput), "--sample-input", inputs, file, described)
            ?? Known(SampleNames, remaining)
            ?? Only(remaining, n => inputs[n] is { IsTensor: true, Dimensions.Length: 4 } m && IsFloat(m.ElementDataType), file,
                "the sample", "a rank-4 float input (NCHW)", "--sample-input", described);
        var sampleMeta = inputs[sample];
        if (!sampleMeta.IsTensor || sampleMeta.Dimensions.Length != 4 || !IsFloat(sampleMeta.ElementDataType))
            throw new ModelLoadException($"{file}: the sample input '{sample}' is {Describe(sampleMeta)}; expected a rank-4 float32 or float16 tensor [batch, channels, height, width]. Inputs are: {described}.");
        var dims = sampleMeta.Dimensions;
        int? fixedBatch = dims[0] > 0 ? dims[0] : null;
        remaining.Remove(sample);

        // 2. Class labels and encoder hidden states go by name only: guessing them could feed the wrong tensor.
        var labels = Explicit(options.ClassLabelsInput, nameof(OnnxModelOptions.ClassLabelsInput), "--class-labels-input", inputs, file, described)
            ?? Known(ClassLabelsNames, remaining);
        if (labels is not null)
        {
            var m = inputs[labels];
            if (!m.IsTensor || m.ElementDataType is not (TensorElementType.Int64 or TensorElementType.Int32) || m.Dimensions.Length != 1 || !BatchLike(m.Dimensions[0], fixedBatch))
                throw new ModelLoadException($"{file}: the class-label input '{labels}' is {Describe(m)}; expected int64 or int32 [batch]. Inputs are: {described}.");
            remaining.Remove(labels);
        }

        var hidden = Explicit(options.EncoderHiddenStatesInput, nameof(OnnxModelOptions.EncoderHiddenStatesInput), "--encoder-hidden-states-input", inputs, file, described)
            ?? Known(HiddenStatesNames, remaining);
        int? hiddenSequence = null;
        var hiddenSize = 0;
        if (hidden is not null)
        {
            var m = inputs[hidden];
            if (!m.IsTensor || !IsFloat(m.ElementDataType) || m.Dimensions.Length != 3 || !BatchLike(m.Dimensions[0], fixedBatch) || m.Dimensions[2] <= 0)
                throw new ModelLoadException($"{file}: the encoder-hidden-states input '{hidden}' is {Describe(m)}; expected float32 or float16 [batch, sequence, hidden size] with a fixed hidden size. Inputs are: {described}.");
            hiddenSequence = m.Dimensions[1] > 0 ? m.Dimensions[1] : null;
            hiddenSize = m.Dimensions[2];
            remaining.Remove(hidden);
        }

        // 3. The timestep: named, or a known name, or the only integer / scalar-like input left.
        var timestep = Explicit(options.TimestepInput, nameof(OnnxModelOptions.TimestepInput), "--timestep-input", inputs, file, described)
            ?? Known(TimestepNames, remaining)
            ?? Only(remaining, n => inputs[n] is { IsTensor: true } m && (IsInteger(m.ElementDataType) || ScalarLike(m.Dimensions)), file,
                "the timestep", "an integer or scalar-like input ([], [1], [batch] or [batch, 1])", "--timestep-input", described);
        var timestepMeta = inputs[timestep];
        if (!timestepMeta.IsTensor || timestepMeta.ElementDataType is not (TensorElementType.Int64 or TensorElementType.Int32 or TensorElementType.Float or TensorElementType.Float16))
            throw new ModelLoadException($"{file}: the timestep input '{timestep}' is {Describe(timestepMeta)}; expected int64, int32, float32 or float16. Inputs are: {described}.");
        var layout = Layout(timestepMeta.Dimensions, fixedBatch)
            ?? throw new ModelLoadException($"{file}: the timestep input '{timestep}' is {Describe(timestepMeta)}; expected the shape [], [1], [batch] or [batch, 1]. Inputs are: {described}.");
        remaining.Remove(timestep);

        // 4. Any other input is a per-item conditioning input (SDXL's text_embeds and time_ids, LCM's timestep_cond),
        //    fed by name from the run's conditioning; one that cannot be per item is refused here.
        var unknown = remaining.Where(n => !(inputs[n] is { IsTensor: true } m && m.Dimensions.Length >= 1 && BatchLike(m.Dimensions[0], fixedBatch)
                                             && (IsFloat(m.ElementDataType) || IsInteger(m.ElementDataType)))).ToList();
        if (unknown.Count > 0)
            throw new ModelLoadException($"{file} has input{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", unknown.Select(n => $"'{n}'"))} that the SDK does not know how to feed. " +
                $"Inputs are: {described}. If one is the class labels or the encoder hidden states, name it with --class-labels-input / --encoder-hidden-states-input " +
                $"(OnnxModelOptions.{nameof(OnnxModelOptions.ClassLabelsInput)} / {nameof(OnnxModelOptions.EncoderHiddenStatesInput)}).");
        var conditioning = remaining.Select(n => new ConditioningInputSignature(n, inputs[n].ElementDataType,
            inputs[n].Dimensions.Skip(1).Select(d => d > 0 ? d : (int?)null).ToArray())).ToArray();

        // 5. The output: named, the only one, a known name, or the only rank-4 float output.
        var outputsDescribed = Describe(outputs);
        string output;
        if (options.Output is { } named)
        {
            if (!outputs.ContainsKey(named))
                throw new ModelLoadException($"{file} has no output named '{named}' (set by OnnxModelOptions.{nameof(OnnxModelOptions.Output)}); outputs are: {outputsDescribed}.");
            output = named;
        }
        else
        {
            var names = outputs.Keys.ToList();
            output = names.Count == 1 ? names[0] : Known(OutputNames, names)
                ?? Only(names, n => outputs[n] is { IsTensor: true, Dimensions.Length: 4 } m && IsFloat(m.ElementDataType), file,
                    "the prediction", "a rank-4 float output", "--output", outputsDescribed, "output");
        }
        var outputMeta = outputs[output];
        var od = outputMeta.Dimensions;
        // The channels. The sample's: fixed in the input, else the first convolution's weight (the legacy diffusers
        // export names every UNet's input "channels", inpainting ones included), else unet/config.json's in_channels,
        // else the output's. The output's: fixed in the output (the legacy export constant-folds it), else
        // out_channels, else the last convolution's weight, else the sample's.
        int? inputChannels = dims[1] > 0 ? dims[1] : graph?.Invoke()?.InputChannels(sample) ?? configChannels;
        int? outputChannels = od.Length == 4 && od[1] > 0 ? od[1] : configOutChannels ?? (od.Length == 4 ? graph?.Invoke()?.OutputChannels(output) : null);
        var channels = outputChannels ?? inputChannels
            ?? throw new ModelLoadException($"{file}: the sample input '{sample}' is {Describe(sampleMeta)} and the output '{output}' is {Describe(outputMeta)}; " +
                "the channel count is fixed in neither, so give it in unet/config.json ('in_channels').");
        var sampleChannels = inputChannels ?? channels;
        if (channels > sampleChannels)
            throw new ModelLoadException($"{file}: the output '{output}' has {channels} channels but the sample '{sample}' has {sampleChannels}; " +
                "expected the output to have the sample's shape (models that also predict a variance in extra channels are not supported).");
        if (!outputMeta.IsTensor || !IsFloat(outputMeta.ElementDataType) || od.Length != 4)
            throw new ModelLoadException($"{file}: the output '{output}' is {Describe(outputMeta)}; expected a rank-4 float32 or float16 tensor shaped like the sample {Describe(sampleMeta)}.");
        if ((od[0] > 0 && dims[0] > 0 && od[0] != dims[0]) ||
            (od[2] > 0 && dims[2] > 0 && od[2] != dims[2]) || (od[3] > 0 && dims[3] > 0 && od[3] != dims[3]))
            throw new ModelLoadException($"{file}: the output '{output}' is {Describe(outputMeta)} but the sample '{sample}' is {Describe(sampleMeta)}; " +
                "expected the output to have the sample's shape (models that also predict a variance in extra channels are not supported).");

        return new OnnxSignature
        {
            SampleName = sample,
            SampleType = sampleMeta.ElementDataType,
            Channels = channels,
            InputChannels = sampleChannels,
            Height = dims[2] > 0 ? dims[2] : null,
            Width = dims[3] > 0 ? dims[3] : null,
            FixedBatch = fixedBatch,
            TimestepName = timestep,
            TimestepType = timestepMeta.ElementDataType,
            TimestepLayout = layout,
            ClassLabelsName = labels,
            ClassLabelsType = labels is null ? default : inputs[labels].ElementDataType,
            HiddenStatesName = hidden,
            HiddenStatesType = hidden is null ? default : inputs[hidden].ElementDataType,
            HiddenStatesSequence = hiddenSequence,
            HiddenStatesSize = hiddenSize,
            ConditioningInputs = conditioning,
            OutputName = output,
            OutputType = outputMeta.ElementDataType,
            InputsDescription = described,
        };
    }

    private static string? Explicit(string? name, string option, string flag, IReadOnlyDictionary<string, NodeMetadata> inputs, string file, string described)
    {
        if (string.IsNullOrEmpty(name)) return null;
        return inputs.ContainsKey(name)
            ? name
            : throw new ModelLoadException($"{file} has no input named '{name}' (set by {flag} / OnnxModelOptions.{option}); inputs are: {described}.");
    }

    private static string? Known(string[] names, List<string> remaining) =>
        names.FirstOrDefault(n => remaining.Contains(n, StringComparer.Ordinal));

    private static string Only(List<string> candidates, Func<string, bool> fits, string file, string role, string what, string flag, string described, string kind = "input")
    {
        var fitting = candidates.Where(fits).ToList();
        return fitting.Count switch
        {
            1 => fitting[0],
            0 => throw new ModelLoadException($"{file} has no {what} to use as {role}; {kind}s are: {described}. Name it with {flag} ({OptionFor(flag)})."),
            _ => throw new ModelLoadException($"{file} has several {kind}s that could be {role} ({string.Join(", ", fitting.Select(n => $"'{n}'"))}); {kind}s are: {described}. Name it with {flag} ({OptionFor(flag)})."),
        };
    }

    private static string OptionFor(string flag) => flag switch
    {
        "--sample-input" => $"OnnxModelOptions.{nameof(OnnxModelOptions.SampleInput)}",
        "--timestep-input" => $"OnnxModelOptions.{nameof(OnnxModelOptions.TimestepInput)}",
        _ => $"OnnxModelOptions.{nameof(OnnxModelOptions.Output)}",
    };

    private static TimestepLayout? Layout(int[] dims, int? fixedBatch) => dims switch
    {
        [] => TimestepLayout.Scalar,
        [1] when fixedBatch is null or 1 => TimestepLayout.One,
        [var b] when BatchLike(b, fixedBatch) => TimestepLayout.PerItem,
        [1] => TimestepLayout.One,
        [var b, 1] when BatchLike(b, fixedBatch) => TimestepLayout.PerItemColumn,
        _ => null,
    };

    private static bool ScalarLike(int[] dims) => dims is [] or [_] or [_, 1];

    // A dimension that can hold the batch: dynamic, or the model's fixed batch size.
    private static bool BatchLike(int dim, int? fixedBatch) => dim <= 0 || dim == fixedBatch;

    internal static bool IsFloat(TensorElementType type) => type is TensorElementType.Float or TensorElementType.Float16;

    private static bool IsInteger(TensorElementType type) => type is TensorElementType.Int64 or TensorElementType.Int32;

    internal static string TypeName(TensorElementType type) => type switch
    {
        TensorElementType.Float => "float32",
        TensorElementType.Float16 => "float16",
        TensorElementType.Double => "float64",
        TensorElementType.Int64 => "int64",
        TensorElementType.Int32 => "int32",
        TensorElementType.Bool => "bool",
        _ => type.ToString().ToLowerInvariant(),
    };

    internal static string Describe(NodeMetadata m)
    {
        if (!m.IsTensor) return m.OnnxValueType.ToString().Replace("ONNX_TYPE_", "", StringComparison.Ordinal).ToLowerInvariant();
        var symbolic = m.SymbolicDimensions;
        var dims = m.Dimensions.Select((d, i) => d > 0 ? d.ToString(CultureInfo.InvariantCulture)
            : symbolic is not null && i < symbolic.Length && !string.IsNullOrEmpty(symbolic[i]) ? symbolic[i] : "?");
        return $"{TypeName(m.ElementDataType)} [{string.Join(", ", dims)}]";
    }

    private static string Describe(IReadOnlyDictionary<string, NodeMetadata> nodes) =>
        nodes.Count == 0 ? "(none)" : string.Join("; ", nodes.Select(kv => $"'{kv.Key}': {Describe(kv.Value)}"));
}
