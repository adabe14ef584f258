namespace Diffusion.Sdk.Abstractions;

/// <summary>The NCHW shape of a batch of images or latents.</summary>
/// <param name="Batch">Number of items (N).</param>
/// <param name="Channels">Channels per item (C).</param>
/// <param name="Height">Rows (H).</param>
/// <param name="Width">Columns (W).</param>
public readonly record struct TensorShape(int Batch, int Channels, int Height, int Width)
{
    /// <summary>Elements in one item, C·H·W.</summary>
    /// <exception cref="OverflowException">The count does not fit in an <see cref="int"/>.</exception>
    public int ItemLength => checked(Channels * Height * Width);

    /// <summary>Elements in the whole batch, N·C·H·W.</summary>
    /// <exception cref="OverflowException">The count does not fit in an <see cref="int"/> (never silently wrapped).</exception>
    public int Length => checked(Batch * ItemLength);

    /// <summary>The same item shape with another batch size.</summary>
    public TensorShape WithBatch(int batch) => this with { Batch = batch };

    /// <inheritdoc/>
    public override string ToString() => $"[{Batch}, {Channels}, {Height}, {Width}]";
}
