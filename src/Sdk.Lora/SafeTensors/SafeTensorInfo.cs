namespace Diffusion.Sdk.Lora.SafeTensors;

/// <summary>One tensor of a <c>.safetensors</c> header, checked against the file: its bytes lie inside the data section, do not overlap another tensor's, and are exactly dtype size × the product of the shape.</summary>
/// <param name="Name">The tensor's key.</param>
/// <param name="DType">The element type.</param>
/// <param name="Shape">The dimensions ([] for a 0-d scalar, which holds one element).</param>
/// <param name="Begin">The first byte, counted from the start of the data section (the byte after the header).</param>
/// <param name="End">One past the last byte, counted the same way.</param>
public sealed record SafeTensorInfo(string Name, SafeTensorsDType DType, long[] Shape, long Begin, long End)
{
    /// <summary>The number of elements (1 for a 0-d tensor).</summary>
    public long ElementCount => (End - Begin) / DType.Size();

    /// <summary>The shape as text, <c>[4, 320]</c>, for messages.</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
