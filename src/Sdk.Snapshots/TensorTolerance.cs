namespace Diffusion.Sdk.Snapshots;

/// <summary>
/// How far a tensor may differ from its approved snapshot on a machine other than the one that approved it (on that
/// machine its float bits must be identical): every compared value v against the approved e must satisfy
/// |v − e| ≤ <see cref="Absolute"/> + <see cref="Relative"/>·|e|. The compared values are the summary statistics
/// (min, max, mean, standard deviation) and, when the snapshot keeps them, every element.
/// </summary>
/// <param name="Absolute">The absolute part of the bound.</param>
/// <param name="Relative">The part of the bound proportional to the approved value.</param>
public sealed record TensorTolerance(double Absolute, double Relative)
{
    /// <summary>
    /// Identical bits on every machine, whatever its instruction sets: for arithmetic that is the SDK's own (seeded
    /// noise, sampler steps, wrappers, guidance), which does not depend on the CPU.
    /// </summary>
    public static TensorTolerance Exact { get; } = new(0, 0);

    /// <summary>
    /// The tolerance calibrated for sampling runs through ONNX Runtime's CPU kernels (latents in about [−1, 1] after a
    /// few to a few tens of steps): 4e-4 + 1e-4·|e|, about 2.5 times the largest difference measured. Other kernel choices moved single latents by up to 1.85e-4 and the
    /// statistics by up to 4.4e-5; another CPU moved the statistics by up to 4e-5 (docs/snapshots.md has the measurements).
    /// </summary>
    public static TensorTolerance CpuKernels { get; } = new(4e-4, 1e-4);

    /// <summary>Whether this tolerance demands identical bits everywhere.</summary>
    public bool IsExact => Absolute == 0 && Relative == 0;

    /// <summary>Whether <paramref name="actual"/> is within the tolerance of <paramref name="expected"/>.</summary>
    public bool Allows(double actual, double expected) =>
        actual == expected || Math.Abs(actual - expected) <= Absolute + Relative * Math.Abs(expected);

    internal void Validate()
    {
        if (!(Absolute >= 0 && double.IsFinite(Absolute)))
            throw new ArgumentOutOfRangeException(nameof(Absolute), Absolute, "The absolute tolerance is a finite number >= 0.");
        if (!(Relative >= 0 && double.IsFinite(Relative)))
            throw new ArgumentOutOfRangeException(nameof(Relative), Relative, "The relative tolerance is a finite number >= 0.");
    }
}
