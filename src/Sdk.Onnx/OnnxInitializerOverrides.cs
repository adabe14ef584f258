using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Sdk.Onnx;

/// <summary>
/// Values that replace named initializers of a model when its session is created (ONNX Runtime's
/// <c>SessionOptions.AddInitializer</c>; the file is never rewritten), for initializers inline or in external data
/// alike. ONNX Runtime keeps pointers to the buffers, so the owner keeps this object alive as long as the session and
/// disposes it after the session.
/// </summary>
internal sealed class OnnxInitializerOverrides : IDisposable
{
    /// <summary>ONNX TensorProto.DataType values of the element types an override can be given in.</summary>
    public const int Float = 1, Float16 = 10, BFloat16 = 16;

    private readonly List<(string Name, OrtValue Value)> _values = [];
    private bool _hasConvolutionWeights;

    /// <summary>How many initializers are replaced.</summary>
    public int Count => _values.Count;

    /// <summary>The names of the replaced initializers.</summary>
    public IEnumerable<string> Names => _values.Select(v => v.Name);

    /// <summary>Replaces initializer <paramref name="name"/> with float32 <paramref name="values"/>, rounded to <paramref name="dataType"/> (the type the model stores it in).</summary>
    public void Add(string name, float[] values, long[] shape, int dataType)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(values);
        OrtValue value;
        switch (dataType)
        {
            case Float:
                value = OrtValue.CreateTensorValueFromMemory(values, shape);
                break;
            case Float16:
                var half = new Float16[values.Length];
                TensorPrimitives.ConvertToHalf(values, MemoryMarshal.Cast<Float16, Half>(half.AsSpan()));
                value = OrtValue.CreateTensorValueFromMemory(half, shape);
                break;
            case BFloat16:
                // Round to nearest even on the upper 16 bits, as torch does.
                var bf16 = new BFloat16[values.Length];
                for (var i = 0; i < values.Length; i++)
                {
                    var bits = BitConverter.SingleToUInt32Bits(values[i]);
                    bf16[i] = new BFloat16((ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16));
                }
                value = OrtValue.CreateTensorValueFromMemory(bf16, shape);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dataType), dataType, "Initializer overrides are float32 (1), float16 (10) or bfloat16 (16).");
        }
        _values.Add((name, value));
        _hasConvolutionWeights |= shape.Length == 4;
    }

    /// <summary>
    /// Graph optimizers that build new initializers from a weight's values in the file while the graph is optimized,
    /// which is before the overrides replace them: a Conv weight reordered into the NCHWc layout would keep the file's
    /// values and the override would be ignored (measured: a LoRA on 3×3 convolutions had no effect at
    /// <c>GraphOptimizationLevel.All</c>, and the right one at <c>Basic</c>). Disabled for sessions that override a
    /// convolution weight (rank 4); MatMul and Gemm weights keep every optimization.
    /// </summary>
    public const string OptimizersThatCopyWeights = "NchwcTransformer";

    /// <summary>Registers every value with <paramref name="options"/>, and turns off the optimizers that would bypass them.</summary>
    public void AddTo(SessionOptions options)
    {
        if (_values.Count == 0) return;
        if (_hasConvolutionWeights) options.AddSessionConfigEntry("optimization.disable_specified_optimizers", OptimizersThatCopyWeights);
        foreach (var (name, value) in _values) options.AddInitializer(name, value);
    }

    /// <summary>Releases the values; call after the session that uses them is disposed.</summary>
    public void Dispose()
    {
        foreach (var (_, value) in _values) value.Dispose();
        _values.Clear();
    }
}
