
namespace Diffusion.Sdk.Snapshots;

/// <summary>
/// What decides the bits of a model's output on a CPU: the ONNX Runtime version, the .NET runtime version and the
/// processor's instruction sets. A snapshot records the fingerprint of the machine that approved it; a machine with
/// the same fingerprint must reproduce it byte for byte, any other within the snapshot's tolerance.
/// </summary>
/// <param name="OnnxRuntime">ONNX Runtime's version string (<c>OrtEnv.GetVersionString()</c>), or <c>none</c> when the process has not loaded it.</param>
/// <param name="DotNet">The .NET runtime version (<see cref="Environment.Version"/>).</param>
/// <param name="Cpu">Architecture, vendor and instruction-set extensions (<see cref="InstructionSets.Describe"/>).</param>
public sealed record SnapshotFingerprint(string OnnxRuntime, string DotNet, string Cpu)
{
    private static readonly Lazy<SnapshotFingerprint> This = new(() =>
        new SnapshotFingerprint(OnnxRuntimeVersion(), Environment.Version.ToString(), InstructionSets.Describe()));

    /// <summary>This machine's fingerprint.</summary>
    public static SnapshotFingerprint Current => This.Value;

    /// <summary>The one-line form stored in snapshot files: <c>onnxruntime 1.x.y; .NET 10.0.z; X64 vendor features…</c>.</summary>
    public override string ToString() => $"onnxruntime {OnnxRuntime}; .NET {DotNet}; {Cpu}";

    // The kit depends on no runtime: it asks the ONNX Runtime the process loaded, when it loaded one, for its native
    // version (the managed package's CPU and GPU builds share one assembly name). A snapshot made without it says "none".
    private static string OnnxRuntimeVersion()
    {
        var environment = Type.GetType("Microsoft.ML.OnnxRuntime.OrtEnv, Microsoft.ML.OnnxRuntime", throwOnError: false);
        var instance = environment?.GetMethod("Instance", Type.EmptyTypes)?.Invoke(null, null);
        return environment?.GetMethod("GetVersionString", Type.EmptyTypes)?.Invoke(instance, null) as string ?? "none";
    }
}
