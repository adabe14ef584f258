namespace Diffusion.Sdk.Lora;

/// <summary>A weight with the adapters merged in: the initializer to override, its values as float32 in the export's layout, its shape, and the element type the export stores it in (ONNX's TensorProto.DataType: 1 float32, 10 float16, 16 bfloat16), to which the values are rounded when the session is created.</summary>
public sealed record MergedWeight(string Name, float[] Values, long[] Dims, int DataType);
