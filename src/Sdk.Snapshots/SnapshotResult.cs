namespace Diffusion.Sdk.Snapshots;

/// <summary>How a comparison with an approved snapshot came out.</summary>
public enum SnapshotOutcome
{
    /// <summary>Byte for byte (image) or bit for bit (tensor) the approved output.</summary>
    Identical,

    /// <summary>Not identical, on a machine with another fingerprint than the approving one, and within the tolerance.</summary>
    WithinTolerance,

    /// <summary>The accept switch was on: the output was written as the approved snapshot.</summary>
    Accepted,

    /// <summary>No approved snapshot exists yet.</summary>
    Missing,

    /// <summary>Different beyond what the rules allow.</summary>
    Different,
}

/// <summary>The result of one snapshot comparison.</summary>
/// <param name="Outcome">How it came out.</param>
/// <param name="Message">What was compared and found, and what to do if it failed.</param>
/// <param name="ActualPath">The actual output written beside the approved file on a failure, else null.</param>
/// <param name="DiffPath">The difference image written on an image failure, else null.</param>
public sealed record SnapshotResult(SnapshotOutcome Outcome, string Message, string? ActualPath = null, string? DiffPath = null)
{
    /// <summary>Whether the output passes (identical, within tolerance, or accepted).</summary>
    public bool Passed => Outcome is SnapshotOutcome.Identical or SnapshotOutcome.WithinTolerance or SnapshotOutcome.Accepted;
}
