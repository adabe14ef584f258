using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Sdk.Onnx;

/// <summary>
/// One sampling run's view of an <see cref="OnnxDiffusionModel"/>: feeds a request to the ONNX session in the
/// model's own types and shapes and reads the prediction back as float32. Not thread-safe; create one per run with
/// <see cref="OnnxDiffusionModel.CreateDenoiser"/> (many can run on one model at once).
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>The timestep is converted to the model's type: integer timesteps are rounded to the nearest integer, halves
/// away from zero (a sampler's fractional 250.5 becomes 251); float16 timesteps are rounded to the nearest float16.
/// It is given as one value ([] or [1]) or repeated per item ([batch] or [batch, 1]), as the model declares.</item>
/// <item>float16 samples, hidden states and outputs are converted at the boundary; the caller always sees float32.</item>
/// <item>A model with a fixed batch size gets exactly that many items per run: a smaller request is padded with zeros
/// (and copies of its first label), a larger one is split into chunks; only the requested items are written back.</item>
/// <item>Input and output tensors live in arrays on the pinned object heap, wrapped in ONNX Runtime values and bound to
/// the session (IOBinding) once per shape: a call with the same shape as the previous one allocates nothing on the CPU
/// provider (on CUDA the inputs are bound again per run, since binding copies them to the device).</item>
/// <item>An allocation failure inside ONNX Runtime becomes <see cref="ModelOutOfMemoryException"/> (the pipeline
/// retries with half the batch); a request that does not fit the model is a <see cref="ModelInputException"/>.</item>
/// </list>
/// </remarks>
public sealed class OnnxDenoiser : IDenoiser
{
    private readonly OnnxDiffusionModel _model;
    private readonly OnnxSignature _signature;
    private readonly RunOptions _runOptions = new();

    private readonly FloatTensor _sample;
    private readonly TimestepTensor _timestep;
    private readonly PinnedTensor<long>? _labels64;
    private readonly PinnedTensor<int>? _labels32;
    private readonly FloatTensor? _hidden;
    private readonly FloatTensor[] _conditioning;
    private readonly FloatTensor _output;

    private readonly string[] _inputNames;
    private readonly OrtValue[] _inputValues;
    private readonly long[] _shape = new long[4];
    private readonly long[] _outputShape = new long[4];

    // Inputs and output are bound to the session once per shape; a run then passes no names or handles at all.
    // On CUDA, binding copies an input to the device, so inputs are bound again before every run.
    private OrtIoBinding? _binding;
    private bool _bindingStale = true;
    private readonly bool _bindInputsEveryRun;

    private bool _disposed;

    internal OnnxDenoiser(OnnxDiffusionModel model)
    {
        _model = model;
        _signature = model.Signature;
        _sample = new FloatTensor(_signature.SampleType);
        _timestep = new TimestepTensor(_signature.TimestepType);
        var names = new List<string> { _signature.SampleName, _signature.TimestepName };
        if (_signature.ClassLabelsName is { } labels)
        {
            names.Add(labels);
            if (_signature.ClassLabelsType == TensorElementType.Int32) _labels32 = new PinnedTensor<int>();
            else _labels64 = new PinnedTensor<long>();
        }
        if (_signature.HiddenStatesName is { } hidden)
        {
            names.Add(hidden);
            _hidden = new FloatTensor(_signature.HiddenStatesType);
        }
        _conditioning = new FloatTensor[_signature.ConditioningInputs.Count];
        for (var i = 0; i < _conditioning.Length; i++)
        {
            names.Add(_signature.ConditioningInputs[i].Name);
            _conditioning[i] = new FloatTensor(_signature.ConditioningInputs[i].Type);
        }
        _inputNames = [.. names];
        _inputValues = new OrtValue[_inputNames.Length];
        _output = new FloatTensor(_signature.OutputType);
        _bindInputsEveryRun = model.ExecutionProvider != OnnxExecutionProvider.Cpu;
    }

    /// <inheritdoc/>
    public int? FixedBatchSize => _signature.FixedBatch;

    /// <inheritdoc/>
    /// <exception cref="ModelInputException">The request does not fit the model (channels, size, labels, hidden states).</exception>
    /// <exception cref="ModelOutOfMemoryException">ONNX Runtime could not allocate memory for this batch.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed to run the model for another reason.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; a running model call is stopped.</exception>
    /// <exception cref="ObjectDisposedException">This denoiser or its model was disposed (also during the call).</exception>
    public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _model.Guard.ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        var shape = input.Shape;
        if (!double.IsFinite(input.Timestep))
            throw new ArgumentException($"The timestep is {input.Timestep}; expected a finite number.", nameof(input));
        var tokens = Check(input);
        // The output has the latent's channels: the sample's, or fewer for a UNet that reads extra channels (inpainting).
        var outputShape = shape with { Channels = _signature.Channels };
        if (output.Length != outputShape.Length)
            throw new ArgumentException($"The output has {output.Length} values but the prediction for the sample {shape} has {outputShape.Length} ({outputShape}).", nameof(output));

        var runBatch = _signature.FixedBatch ?? shape.Batch;
        try
        {
            Prepare(runBatch, shape, tokens, input.Conditioning);
        }
        catch (OutOfMemoryException e)
        {
            throw new ModelOutOfMemoryException($"{_model.ModelPath}: the buffers for a batch of {runBatch} ({shape.WithBatch(runBatch)}) could not be allocated; a smaller batch may fit.", e);
        }
        _timestep.Write(input.Timestep);

        var itemLength = shape.ItemLength;
        var outputItemLength = outputShape.ItemLength;
        var hiddenItem = tokens * _signature.HiddenStatesSize;
        for (var start = 0; start < shape.Batch; start += runBatch)
        {
            var count = Math.Min(runBatch, shape.Batch - start);
            _sample.Write(input.Sample.Slice(start * itemLength, count * itemLength), 0);
            if (count < runBatch) _sample.Clear(count * itemLength);
            if (!input.ClassLabels.IsEmpty) WriteLabels(input.ClassLabels.Slice(start, count), runBatch);
            if (_hidden is not null)
            {
                _hidden.Write(input.EncoderHiddenStates.Slice(start * hiddenItem, count * hiddenItem), 0);
                if (count < runBatch) _hidden.Clear(count * hiddenItem);
            }
            for (var i = 0; i < _conditioning.Length; i++)
            {
                var values = input.Conditioning!.Find(_signature.ConditioningInputs[i].Name)!;
                _conditioning[i].Write(input.Conditioning.RowsOf(values, input.ConditioningRow + start, count), 0);
                if (count < runBatch) _conditioning[i].Clear(count * values.RowLength);
            }
            Run(shape.WithBatch(runBatch), cancellationToken);
            _output.Read(0, output.Slice(start * outputItemLength, count * outputItemLength));
        }
    }

    /// <summary>Releases the pinned buffers and ONNX Runtime values. Optional: they are also released when collected.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _binding?.Dispose();
        _sample.Dispose();
        _timestep.Dispose();
        _labels64?.Dispose();
        _labels32?.Dispose();
        _hidden?.Dispose();
        foreach (var tensor in _conditioning) tensor.Dispose();
        _output.Dispose();
        _runOptions.Dispose();
    }

    // Checks the request against the model; returns the encoder-hidden-states tokens per item (0 when there are none).
    private int Check(in DenoiserInput input)
    {
        var s = _signature;
        var shape = input.Shape;
        var file = _model.ModelPath;
        if (shape.Channels != s.InputChannels)
            throw new ModelInputException($"{file} takes samples with {s.InputChannels} channel{(s.InputChannels == 1 ? "" : "s")} (input '{s.SampleName}': {SampleDescription}); the request's sample {shape} has {shape.Channels}.");
        if ((s.Height is { } h && shape.Height != h) || (s.Width is { } w && shape.Width != w))
            throw new ModelInputException($"{file} takes samples of {s.Height?.ToString() ?? "any"}×{s.Width?.ToString() ?? "any"} (height×width; input '{s.SampleName}': {SampleDescription}); the request's sample {shape} is {shape.Height}×{shape.Width}.");

        var info = _model.Info;
        if (s.ClassLabelsName is { } labelsName)
        {
            if (input.ClassLabels.IsEmpty)
                throw new ModelInputException($"{file} is class-conditional (input '{labelsName}', {OnnxSignature.TypeName(s.ClassLabelsType)} [batch]): give one class label per item{LabelMeaning(info)}.");
            foreach (var label in input.ClassLabels)
            {
                var valid = info.NumClasses is not { } n || (label >= 0 && label < n) || label == info.UnconditionalLabel;
                if (!valid || (_labels32 is not null && label is < int.MinValue or > int.MaxValue))
                    throw new ModelInputException($"{file}: class label {label} is out of range{LabelMeaning(info)}.");
            }
        }
        else if (!input.ClassLabels.IsEmpty)
        {
            throw new ModelInputException($"{file} takes no class labels (its inputs are: {s.InputsDescription}); {input.ClassLabels.Length} were given. Leave them empty for this model.");
        }

        CheckConditioningInputs(input);

        if (s.HiddenStatesName is not { } hiddenName)
        {
            if (!input.EncoderHiddenStates.IsEmpty)
                throw new ModelInputException($"{file} takes no encoder hidden states (its inputs are: {s.InputsDescription}); {input.EncoderHiddenStates.Length} values were given.");
            return 0;
        }
        var perItem = input.EncoderHiddenStates.Length / shape.Batch;
        if (input.EncoderHiddenStates.IsEmpty)
            throw new ModelInputException($"{file} is text-conditioned (input '{hiddenName}', [batch, sequence, hidden size]): give encoder hidden states, {ExpectedHiddenStates()}.");
        if (perItem % s.HiddenStatesSize != 0 || (s.HiddenStatesSequence is { } seq && perItem != seq * s.HiddenStatesSize))
            throw new ModelInputException($"{file}: {perItem} encoder-hidden-state values per item were given; input '{hiddenName}' expects {ExpectedHiddenStates()}.");
        return perItem / s.HiddenStatesSize;
    }

    // Every per-item input the model declares must come from the run's conditioning, with the row shape it declares.
    private void CheckConditioningInputs(in DenoiserInput input)
    {
        foreach (var expected in _signature.ConditioningInputs)
        {
            var given = input.Conditioning?.Find(expected.Name);
            var declared = $"[batch, {string.Join(", ", expected.RowShape.Select(d => d?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"))}]";
            if (given is null)
                throw new ModelInputException($"{_model.ModelPath} takes the input '{expected.Name}' ({OnnxSignature.TypeName(expected.Type)} {declared}), which this run's conditioning does not provide; " +
                                              "the model needs a pipeline (conditioner) that knows it, e.g. the SDXL one for 'text_embeds'/'time_ids' or the LCM one for 'timestep_cond'.");
            var fits = given.RowShape.Length == expected.RowShape.Length && given.RowShape.Zip(expected.RowShape).All(p => p.Second is null || p.First == p.Second);
            if (!fits)
                throw new ModelInputException($"{_model.ModelPath}: the input '{expected.Name}' is {OnnxSignature.TypeName(expected.Type)} {declared} but the conditioning gives rows of [{string.Join(", ", given.RowShape)}].");
        }
    }

    private string ExpectedHiddenStates() => _signature.HiddenStatesSequence is { } sequence
        ? $"{sequence}×{_signature.HiddenStatesSize} = {sequence * _signature.HiddenStatesSize} values per item"
        : $"a multiple of {_signature.HiddenStatesSize} values per item";

    private string SampleDescription => $"{OnnxSignature.TypeName(_signature.SampleType)} [{(_signature.FixedBatch?.ToString() ?? "batch")}, {_signature.InputChannels}, {_signature.Height?.ToString() ?? "height"}, {_signature.Width?.ToString() ?? "width"}]";

    internal static string LabelMeaning(ModelInfo info)
    {
        var classes = info.NumClasses is { } n ? $": 0…{n - 1} for a class" : "";
        var unconditional = info.UnconditionalLabel is { } u
            ? $"{(classes.Length > 0 ? ", or " : ": ")}{u} for unconditional (no class)"
            : " (its unconditional label is not known: set OnnxModelOptions.UnconditionalLabel or 'unconditional_label' in unet/config.json)";
        return classes + unconditional;
    }

    private void Prepare(int runBatch, TensorShape shape, int tokens, ModelConditioning? conditioning)
    {
        _shape[0] = runBatch;
        _shape[1] = shape.Channels;
        _shape[2] = shape.Height;
        _shape[3] = shape.Width;
        _shape.CopyTo(_outputShape, 0);
        _outputShape[1] = _signature.Channels;
        // Every rebuilt value marks the binding stale at once, so that an allocation failure half-way through
        // cannot leave the binding pointing at a buffer that was dropped.
        _bindingStale |= _sample.Ensure(_shape);
        _bindingStale |= _output.Ensure(_outputShape);
        _inputValues[0] = _sample.Value;

        Span<long> timestepShape = stackalloc long[2];
        timestepShape = _signature.TimestepLayout switch
        {
            TimestepLayout.Scalar => timestepShape[..0],
            TimestepLayout.One => [1],
            TimestepLayout.PerItem => [runBatch],
            _ => [runBatch, 1],
        };
        _bindingStale |= _timestep.Ensure(timestepShape);
        _inputValues[1] = _timestep.Value;

        var next = 2;
        Span<long> batchOnly = [runBatch];
        if (_labels64 is not null)
        {
            _bindingStale |= _labels64.Ensure(batchOnly);
            _inputValues[next++] = _labels64.Value!;
        }
        else if (_labels32 is not null)
        {
            _bindingStale |= _labels32.Ensure(batchOnly);
            _inputValues[next++] = _labels32.Value!;
        }
        if (_hidden is not null)
        {
            Span<long> hiddenShape = [runBatch, tokens, _signature.HiddenStatesSize];
            _bindingStale |= _hidden.Ensure(hiddenShape);
            _inputValues[next++] = _hidden.Value;
        }
        Span<long> shapeBuffer = stackalloc long[8];
        for (var i = 0; i < _conditioning.Length; i++)
        {
            var rowShape = conditioning!.Find(_signature.ConditioningInputs[i].Name)!.RowShape;
            if (rowShape.Length + 1 > shapeBuffer.Length) throw new ModelInputException($"{_model.ModelPath}: the input '{_signature.ConditioningInputs[i].Name}' has more than {shapeBuffer.Length} dimensions.");
            var inputShape = shapeBuffer[..(rowShape.Length + 1)];
            inputShape[0] = runBatch;
            for (var d = 0; d < rowShape.Length; d++) inputShape[d + 1] = rowShape[d];
            _bindingStale |= _conditioning[i].Ensure(inputShape);
            _inputValues[next++] = _conditioning[i].Value;
        }
    }

    // Padding items get the chunk's first label: always one the model accepts.
    private void WriteLabels(ReadOnlySpan<long> labels, int runBatch)
    {
        if (_labels64 is not null)
        {
            var span = _labels64.Span;
            labels.CopyTo(span);
            span[labels.Length..runBatch].Fill(labels[0]);
        }
        else
        {
            var span = _labels32!.Span;
            for (var i = 0; i < runBatch; i++) span[i] = (int)labels[i < labels.Length ? i : 0];
        }
    }

    private void Bind(InferenceSession session)
    {
        _binding ??= session.CreateIoBinding();
        for (var i = 0; i < _inputNames.Length; i++) _binding.BindInput(_inputNames[i], _inputValues[i]);
        if (_bindingStale) _binding.BindOutput(_signature.OutputName, _output.Value);
        _bindingStale = false;
    }

    private void Run(TensorShape runShape, CancellationToken cancellationToken)
    {
        // Cancellation and disposal reach a running call through ONNX Runtime's terminate flag (the model's guard).
        try
        {
            _model.Guard.Run(_runOptions, this, static (session, self) =>
            {
                if (self._bindingStale || self._bindInputsEveryRun) self.Bind(session);
                session.RunWithBinding(self._runOptions, self._binding!);
                return true;
            }, cancellationToken);
        }
        catch (OnnxRuntimeException e) when (OnnxErrors.IsOutOfMemory(e))
        {
            throw new ModelOutOfMemoryException($"{_model.ModelPath} ran out of memory on the {_model.ExecutionProvider} provider for a batch of {runShape.Batch} ({runShape}); a smaller batch may fit. {e.Message}", e);
        }
        catch (OnnxRuntimeException e)
        {
            throw new DiffusionException($"ONNX Runtime failed to run {_model.ModelPath} on a batch of {runShape}: {e.Message}", e);
        }
    }
}

/// <summary>The timestep in the model's type: int64, int32, float32 or float16.</summary>
internal sealed class TimestepTensor : IDisposable
{
    private readonly PinnedTensor<long>? _int64;
    private readonly PinnedTensor<int>? _int32;
    private readonly PinnedTensor<float>? _single;
    private readonly PinnedTensor<Float16>? _half;

    public TimestepTensor(TensorElementType type)
    {
        switch (type)
        {
            case TensorElementType.Int64: _int64 = new(); break;
            case TensorElementType.Int32: _int32 = new(); break;
            case TensorElementType.Float16: _half = new(); break;
            default: _single = new(); break;
        }
    }

    public OrtValue Value => (_int64?.Value ?? _int32?.Value ?? _single?.Value ?? _half!.Value)!;

    public bool Ensure(ReadOnlySpan<long> shape) =>
        _int64?.Ensure(shape) ?? _int32?.Ensure(shape) ?? _single?.Ensure(shape) ?? _half!.Ensure(shape);

    /// <summary>Writes <paramref name="timestep"/> to every element.</summary>
    public void Write(double timestep)
    {
        if (_int64 is not null) _int64.Span.Fill(RoundToInteger(timestep));
        else if (_int32 is not null) _int32.Span.Fill(checked((int)RoundToInteger(timestep)));
        else if (_single is not null) _single.Span.Fill((float)timestep);
        else _half!.Span.Fill(ToFloat16(timestep));
    }

    /// <summary>Nearest integer, halves away from zero.</summary>
    internal static long RoundToInteger(double timestep) => checked((long)Math.Round(timestep, MidpointRounding.AwayFromZero));

    /// <summary>Nearest float16 (through float32, as the exporters' tracing casts do).</summary>
    internal static Float16 ToFloat16(double timestep)
    {
        var half = (Half)(float)timestep;
        return Unsafe.BitCast<Half, Float16>(half);
    }

    public void Dispose()
    {
        _int64?.Dispose();
        _int32?.Dispose();
        _single?.Dispose();
        _half?.Dispose();
    }
}
