namespace Diffusion.Sdk.Snapshots;

/// <summary>
/// How far a generated image may differ from its approved snapshot on a machine other than the one that approved it
/// (on that machine the PNG bytes must be identical). Sizes and channel counts must always match.
/// </summary>
/// <param name="MaxChannelDifference">The largest difference allowed in any channel value of any pixel (0–255).</param>
/// <param name="MaxDifferingFraction">The fraction of channel values (0–1) allowed to differ at all.</param>
public sealed record ImageTolerance(int MaxChannelDifference, double MaxDifferingFraction)
{
    /// <summary>Identical pixels on every machine.</summary>
    public static ImageTolerance Exact { get; } = new(0, 0);

    /// <summary>
    /// The tolerance calibrated for 8-bit images generated through ONNX Runtime's CPU kernels: every channel within ±1,
    /// and at most 0.5% of the channel values different. Other kernel choices moved at most 0.051% of the values, by 1
    /// (docs/snapshots.md has the measurements); within <see cref="TensorTolerance.CpuKernels"/> a latent in [−1, 1]
    /// moves by far less than one 8-bit step (1/127.5), so it can only cross one rounding boundary.
    /// </summary>
    public static ImageTolerance CpuKernels { get; } = new(1, 0.005);

    /// <summary>Whether this tolerance demands identical pixels.</summary>
    public bool IsExact => MaxChannelDifference == 0 || MaxDifferingFraction == 0;

    internal void Validate()
    {
        if (MaxChannelDifference is < 0 or > 255)
            throw new ArgumentOutOfRangeException(nameof(MaxChannelDifference), MaxChannelDifference, "A channel difference is between 0 and 255.");
        if (!(MaxDifferingFraction is >= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(MaxDifferingFraction), MaxDifferingFraction, "A fraction is between 0 and 1.");
    }
}
