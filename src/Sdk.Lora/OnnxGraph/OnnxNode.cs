namespace Diffusion.Sdk.Lora.OnnxGraph;

/// <summary>One node of an ONNX graph: what the LoRA mapping needs of it.</summary>
/// <param name="Name">The node's name (torch's exporter writes the module scope, <c>/down_blocks.0/…/to_q/MatMul</c>).</param>
/// <param name="OpType">The operator, e.g. <c>MatMul</c>, <c>Conv</c>, <c>Gemm</c>, <c>Transpose</c>.</param>
/// <param name="Inputs">The input value names.</param>
/// <param name="Outputs">The output value names.</param>
/// <param name="IntAttributes">The integer attributes (<c>transB</c>, <c>group</c>).</param>
/// <param name="IntsAttributes">The integer-list attributes (<c>perm</c>).</param>
internal sealed record OnnxNode(string Name, string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs,
    IReadOnlyDictionary<string, long> IntAttributes, IReadOnlyDictionary<string, long[]> IntsAttributes);
