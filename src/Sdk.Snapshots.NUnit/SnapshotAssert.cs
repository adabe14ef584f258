using NUnit.Framework;

namespace Diffusion.Sdk.Snapshots;

/// <summary>The snapshot kit's comparisons as NUnit assertions: a result that does not pass fails the test with its message.</summary>
public static class SnapshotAssert
{
    /// <summary>Compares a PNG with snapshot <paramref name="name"/> (<see cref="SnapshotStore.CheckImage"/>) and fails the test if it does not pass.</summary>
    public static void MatchImage(this SnapshotStore store, string name, byte[] png, ImageTolerance tolerance)
    {
        ArgumentNullException.ThrowIfNull(store);
        var result = store.CheckImage(name, png, tolerance);
        if (!result.Passed) Assert.Fail(result.Message);
    }

    /// <summary>Compares a tensor with snapshot <paramref name="name"/> (<see cref="SnapshotStore.CheckTensor"/>) and fails the test if it does not pass.</summary>
    public static void MatchTensor(this SnapshotStore store, string name, ReadOnlySpan<float> values, TensorTolerance tolerance, bool keepValues = false)
    {
        ArgumentNullException.ThrowIfNull(store);
        var result = store.CheckTensor(name, values, tolerance, keepValues);
        if (!result.Passed) Assert.Fail(result.Message);
    }
}
