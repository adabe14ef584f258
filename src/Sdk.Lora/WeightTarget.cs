using Diffusion.Sdk.Lora.OnnxGraph;

namespace Diffusion.Sdk.Lora;

/// <summary>How an export stores a Linear or Conv weight.</summary>
internal enum WeightLayout
{
    /// <summary>As torch: [out, in] or [out, in, kh, kw] (Conv, Gemm with transB = 1, MatMul through a Transpose).</summary>
    Torch,
    /// <summary>Transposed: [in, out] (MatMul reading the initializer directly, as torch's exporter folds Linear on a 3-D input).</summary>
    Transposed,
}

/// <summary>
/// A weight of an ONNX export that an adapter module can update: the initializer, the node that reads it, how it is
/// laid out, and, when it cannot be overridden on its own, why.
/// </summary>
internal sealed record WeightTarget(OnnxInitializer Initializer, OnnxNode Node, WeightLayout Layout, string? Problem)
{
    /// <summary>Output features.</summary>
    public long Out => Layout == WeightLayout.Torch ? Initializer.Dims[0] : Initializer.Dims[1];

    /// <summary>Inputs per output: in·kh·kw.</summary>
    public long In => Layout == WeightLayout.Torch ? Initializer.Dims.Skip(1).Aggregate(1L, (a, d) => a * d) : Initializer.Dims[0];

    /// <summary>The convolution kernel ([kh, kw]) or empty.</summary>
    public long[] Kernel => Initializer.Dims.Length == 4 ? Initializer.Dims[2..] : [];
}
