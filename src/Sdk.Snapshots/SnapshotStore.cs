using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace Diffusion.Sdk.Snapshots;

/// <summary>
/// A folder of approved snapshots, and the comparisons against them. The rules:
/// <list type="bullet">
/// <item><description>On the machine that approved a snapshot (the same <see cref="SnapshotFingerprint"/>: ONNX
/// Runtime version, .NET version, instruction sets) the output must be identical: the PNG bytes, the tensor's float bits.</description></item>
/// <item><description>On any other machine, an image must have the same size and channels and its pixels must be within
/// the <see cref="ImageTolerance"/>; a tensor must have the same length and its statistics (and its values, when the
/// snapshot keeps them) must be within the <see cref="TensorTolerance"/>. An exact tolerance demands identical output
/// everywhere.</description></item>
/// <item><description>On a failure the actual output (<c>name.actual.png</c>, <c>name.actual.tensor.json</c>) and,
/// for an image, a difference image (<c>name.diff.png</c>) are written beside the approved file, each atomically;
/// a later pass removes them.</description></item>
/// <item><description>With <c>DIFFUSION_ACCEPT_SNAPSHOTS=1</c> every compared output is written as the approved
/// snapshot with this machine's fingerprint instead (review the diff, then commit).</description></item>
/// </list>
/// </summary>
public sealed class SnapshotStore
{
    /// <summary>The environment variable that, set to <c>1</c>, accepts every compared output as the new approved snapshot.</summary>
    public const string AcceptVariable = "DIFFUSION_ACCEPT_SNAPSHOTS";

    /// <summary>A store over <paramref name="directory"/>.</summary>
    /// <param name="directory">The folder of the approved files (created when the first one is accepted).</param>
    /// <param name="fingerprint">This machine's fingerprint; <see cref="SnapshotFingerprint.Current"/> when null.</param>
    /// <param name="accept">Whether to accept instead of compare; <see cref="AcceptRequested"/> when null.</param>
    public SnapshotStore(string directory, SnapshotFingerprint? fingerprint = null, bool? accept = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory = Path.GetFullPath(directory);
        Fingerprint = fingerprint ?? SnapshotFingerprint.Current;
        Accepting = accept ?? AcceptRequested;
    }

    /// <summary>A store over the folder <paramref name="folder"/> next to the calling source file (snapshots live in the source tree).</summary>
    public static SnapshotStore BesideSource(string folder, [CallerFilePath] string callerFile = "") =>
        new(Path.Combine(Path.GetDirectoryName(callerFile) ?? ".", folder));

    /// <summary>Whether <see cref="AcceptVariable"/> is set to <c>1</c>.</summary>
    public static bool AcceptRequested => Environment.GetEnvironmentVariable(AcceptVariable) == "1";

    /// <summary>The folder of the approved files.</summary>
    public string Directory { get; }

    /// <summary>The fingerprint compared with the approving machine's.</summary>
    public SnapshotFingerprint Fingerprint { get; }

    /// <summary>Whether outputs are accepted instead of compared.</summary>
    public bool Accepting { get; }

    /// <summary>The approved PNG of snapshot <paramref name="name"/>.</summary>
    public string ImagePath(string name) => Path.Combine(Directory, CheckName(name) + ".png");

    /// <summary>The approved tensor of snapshot <paramref name="name"/>.</summary>
    public string TensorPath(string name) => Path.Combine(Directory, CheckName(name) + ".tensor.json");

    /// <summary>Compares (or accepts) a PNG against snapshot <paramref name="name"/> under the rules of this class.</summary>
    /// <exception cref="InvalidDataException"><paramref name="png"/> is not a readable image.</exception>
    public SnapshotResult CheckImage(string name, byte[] png, ImageTolerance tolerance)
    {
        ArgumentNullException.ThrowIfNull(png);
        ArgumentNullException.ThrowIfNull(tolerance);
        tolerance.Validate();
        var approvedPath = ImagePath(name);
        var recordPath = approvedPath + ".json";
        var actualPath = Path.Combine(Directory, name + ".actual.png");
        var diffPath = Path.Combine(Directory, name + ".diff.png");
        var actual = DecodedImage.Decode(png);

        if (Accepting)
        {
            AtomicFile.Write(approvedPath, png);
            SnapshotJson.Write(recordPath, new ImageRecord
            {
                Fingerprint = Fingerprint.ToString(), Sha256 = Sha256(png), Width = actual.Width, Height = actual.Height, Channels = actual.Channels,
            });
            Remove(actualPath, diffPath);
            return new SnapshotResult(SnapshotOutcome.Accepted, $"{name}: accepted as {approvedPath}.");
        }
        if (!File.Exists(approvedPath))
        {
            AtomicFile.Write(actualPath, png);
            return new SnapshotResult(SnapshotOutcome.Missing,
                $"{name}: no approved image {approvedPath}; wrote {actualPath}. {HowToAccept}", actualPath);
        }

        var approvedBytes = File.ReadAllBytes(approvedPath);
        var recorded = SnapshotJson.Read<ImageRecord>(recordPath)?.Fingerprint;
        if (approvedBytes.AsSpan().SequenceEqual(png))
        {
            Remove(actualPath, diffPath);
            return new SnapshotResult(SnapshotOutcome.Identical, $"{name}: identical PNG bytes.");
        }
        var approved = DecodedImage.Decode(approvedBytes);
        var difference = ImageDifference.Between(actual, approved);
        var sameMachine = recorded == Fingerprint.ToString();
        string? failure = null;
        if (!difference.SameSize)
            failure = $"the image is {actual.Width}×{actual.Height}×{actual.Channels}, the approved one {approved.Width}×{approved.Height}×{approved.Channels}";
        else if (sameMachine && difference.DifferingValues > 0)
            failure = $"{difference} on the machine that approved it, where identical bytes are required";
        else if (!difference.IsWithin(tolerance))
            failure = $"{difference}; allowed: ±{tolerance.MaxChannelDifference} on at most {tolerance.MaxDifferingFraction:P2}";
        else if (sameMachine)
            failure = "the pixels are identical but the PNG bytes are not, on the machine that approved it";

        if (failure is null)
        {
            Remove(actualPath, diffPath);
            return new SnapshotResult(difference.DifferingValues == 0 ? SnapshotOutcome.Identical : SnapshotOutcome.WithinTolerance,
                $"{name}: {difference}, within tolerance (approved on {recorded ?? "an unrecorded machine"}).");
        }
        AtomicFile.Write(actualPath, png);
        AtomicFile.Write(diffPath, ImageDifference.DiffPng(actual, approved));
        return new SnapshotResult(SnapshotOutcome.Different,
            $"{name}: {failure}. Approved {approvedPath} on: {recorded ?? "(no fingerprint recorded)"}; this machine: {Fingerprint}. " +
            $"Wrote {actualPath} and {diffPath}. {HowToAccept}", actualPath, diffPath);
    }

    /// <summary>Compares (or accepts) a tensor against snapshot <paramref name="name"/> under the rules of this class.</summary>
    /// <param name="name">The snapshot's name (letters, digits, '.', '-', '_').</param>
    /// <param name="values">The tensor.</param>
    /// <param name="tolerance">The tolerance on other machines; <see cref="TensorTolerance.Exact"/> demands identical bits everywhere.</param>
    /// <param name="keepValues">When accepting, keep every element in the snapshot (compared elementwise later), not only its statistics.</param>
    public SnapshotResult CheckTensor(string name, ReadOnlySpan<float> values, TensorTolerance tolerance, bool keepValues = false)
    {
        ArgumentNullException.ThrowIfNull(tolerance);
        tolerance.Validate();
        var approvedPath = TensorPath(name);
        var actualPath = Path.Combine(Directory, name + ".actual.tensor.json");
        var summary = TensorSummary.Of(values);

        if (Accepting)
        {
            SnapshotJson.Write(approvedPath, Record(summary, keepValues ? values.ToArray() : null));
            Remove(actualPath);
            return new SnapshotResult(SnapshotOutcome.Accepted, $"{name}: accepted as {approvedPath}.");
        }
        var approved = SnapshotJson.Read<TensorRecord>(approvedPath);
        if (approved is null)
        {
            SnapshotJson.Write(actualPath, Record(summary, values.ToArray()));
            return new SnapshotResult(SnapshotOutcome.Missing, $"{name}: no approved tensor {approvedPath}; wrote {actualPath}. {HowToAccept}", actualPath);
        }
        if (approved.Length == summary.Length && approved.Sha256 == summary.Sha256)
        {
            Remove(actualPath);
            return new SnapshotResult(SnapshotOutcome.Identical, $"{name}: identical bits.");
        }

        var sameMachine = approved.Fingerprint == Fingerprint.ToString();
        var failure = approved.Length != summary.Length ? $"{summary.Length} values, the approved tensor has {approved.Length}"
            : tolerance.IsExact ? $"the bits differ ({Describe(summary, approved)}) and this tensor must be identical on every machine"
            : sameMachine ? $"the bits differ ({Describe(summary, approved)}) on the machine that approved it, where identical bits are required"
            : OutsideTolerance(summary, approved, values, tolerance);
        if (failure is null)
        {
            Remove(actualPath);
            return new SnapshotResult(SnapshotOutcome.WithinTolerance, $"{name}: within tolerance ({Describe(summary, approved)}).");
        }
        SnapshotJson.Write(actualPath, Record(summary, values.ToArray()));
        return new SnapshotResult(SnapshotOutcome.Different,
            $"{name}: {failure}. Approved {approvedPath} on: {approved.Fingerprint ?? "(no fingerprint recorded)"}; this machine: {Fingerprint}. " +
            $"Wrote {actualPath}. {HowToAccept}", actualPath);
    }

    private static string? OutsideTolerance(TensorSummary actual, TensorRecord approved, ReadOnlySpan<float> values, TensorTolerance tolerance)
    {
        var bound = $"allowed: {tolerance.Absolute:G3} + {tolerance.Relative:G3}·|approved|";
        foreach (var (key, a, e) in new[] { ("min", actual.Min, approved.Min), ("max", actual.Max, approved.Max), ("mean", actual.Mean, approved.Mean), ("std", actual.Std, approved.Std) })
            if (!tolerance.Allows(a, e))
                return $"{key} is {F(a)}, approved {F(e)} (off by {F(Math.Abs(a - e))}; {bound})";
        if (approved.Values is not { } expected) return null;
        if (expected.Length != values.Length) return $"the snapshot keeps {expected.Length} values for a length of {approved.Length}";
        for (var i = 0; i < values.Length; i++)
            if (!tolerance.Allows(values[i], expected[i]))
                return $"element {i} is {F(values[i])}, approved {F(expected[i])} (off by {F(Math.Abs(values[i] - (double)expected[i]))}; {bound})";
        return null;
    }

    private static string Describe(TensorSummary actual, TensorRecord approved) =>
        $"min off by {F(Math.Abs(actual.Min - approved.Min))}, max by {F(Math.Abs(actual.Max - approved.Max))}, " +
        $"mean by {F(Math.Abs(actual.Mean - approved.Mean))}, std by {F(Math.Abs(actual.Std - approved.Std))}";

    private TensorRecord Record(TensorSummary s, float[]? values) => new()
    {
        Fingerprint = Fingerprint.ToString(), Length = s.Length, Sha256 = s.Sha256, Min = s.Min, Max = s.Max, Mean = s.Mean, Std = s.Std, Values = values,
    };

    private static string F(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    private static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static string HowToAccept =>
        $"If the change is deliberate, run the tests with {AcceptVariable}=1, review the diff of the approved files, and commit them.";

    private static void Remove(params string[] paths)
    {
        foreach (var path in paths)
            if (File.Exists(path)) File.Delete(path);
    }

    private static string CheckName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        foreach (var c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_'))
                throw new ArgumentException($"Snapshot name '{name}' has the character '{c}'; use letters, digits, '.', '-' and '_' only (it becomes a file name).", nameof(name));
        return name;
    }
}
