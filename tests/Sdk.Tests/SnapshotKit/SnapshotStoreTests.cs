using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Snapshots;
using StbImageWriteSharp;

namespace Diffusion.Sdk.Tests.SnapshotKit;

/// <summary>
/// The snapshot kit's rules, including that its comparisons fail: wrong images and tensors are reported, the actual
/// output and a diff image are written whole beside the approved file, the approved file is left alone, and exactness
/// is demanded on the approving machine while other machines get the tolerance.
/// </summary>
[TestFixture]
public sealed class SnapshotStoreTests
{
    private static readonly SnapshotFingerprint Here = new("1.0.0", "10.0.0", "X64 TestVendor sse2 avx2");
    private static readonly SnapshotFingerprint Elsewhere = new("1.0.0", "10.0.0", "X64 TestVendor sse2 avx2 avx512f");
    private static readonly ImageTolerance Loose = new(2, 0.1);
    private static readonly TensorTolerance Close = new(1e-4, 1e-4);
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "snapshots-" + Guid.NewGuid().ToString("N"))).FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    private SnapshotStore Store(SnapshotFingerprint fingerprint, bool accept = false) => new(_folder, fingerprint, accept);

    private static byte[] Pixels(int width = 6, int height = 5) =>
        [.. Enumerable.Range(0, width * height).Select(i => (byte)(i * 7 % 256))];

    private static byte[] Png(byte[] pixels, int width = 6, int height = 5)
    {
        using var stream = new MemoryStream();
        new ImageWriter().WritePng(pixels, width, height, ColorComponents.Grey, stream);
        return stream.ToArray();
    }

    private static float[] Tensor() => [.. Enumerable.Range(0, 40).Select(i => MathF.Sin(i) * 0.9f)];

    private string[] Files() => [.. Directory.GetFiles(_folder).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    [Test]
    public void AnAcceptedImageIsIdenticalAndLeavesNoOtherFiles()
    {
        var png = Png(Pixels());
        Assert.That(Store(Here, accept: true).CheckImage("grid", png, Loose).Outcome, Is.EqualTo(SnapshotOutcome.Accepted));
        var result = Store(Here).CheckImage("grid", png, Loose);
        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(SnapshotOutcome.Identical));
            Assert.That(Files(), Is.EqualTo(new[] { "grid.png", "grid.png.json" }));
            Assert.That(File.ReadAllText(Path.Combine(_folder, "grid.png.json")), Does.Contain(Here.ToString()));
        });
    }

    [Test]
    public void AWrongImageFailsAndWritesTheActualAndADiffBesideTheApprovedFile()
    {
        var approved = Png(Pixels());
        Store(Here, accept: true).CheckImage("grid", approved, Loose);
        var wrong = Pixels();
        wrong[13] = (byte)(wrong[13] + 40);

        var result = Store(Elsewhere).CheckImage("grid", Png(wrong), Loose);

        Assert.Multiple(() =>
        {
            Assert.That(result.Passed, Is.False);
            Assert.That(result.Outcome, Is.EqualTo(SnapshotOutcome.Different));
            Assert.That(result.Message, Does.Contain("by up to 40").And.Contain("DIFFUSION_ACCEPT_SNAPSHOTS=1").And.Contain(Here.ToString()));
            Assert.That(Files(), Is.EqualTo(new[] { "grid.actual.png", "grid.diff.png", "grid.png", "grid.png.json" }), "no temporary file is left");
            Assert.That(File.ReadAllBytes(Path.Combine(_folder, "grid.png")), Is.EqualTo(approved), "the approved file is untouched");
            Assert.That(DecodedImage.Decode(File.ReadAllBytes(result.ActualPath!)).Data, Is.EqualTo(wrong), "the actual file is whole");
            var diff = DecodedImage.Decode(File.ReadAllBytes(result.DiffPath!));
            Assert.That((diff.Width, diff.Height, diff.Channels), Is.EqualTo((6, 5, 3)));
            Assert.That(diff.Data[3 * 13], Is.EqualTo(255), "the changed pixel is red");
            Assert.That(diff.Data[3 * 13 + 1], Is.Zero);
            Assert.That(diff.Data[3 * 12], Is.EqualTo(diff.Data[3 * 12 + 1]), "an unchanged pixel is grey");
        });

        // Once the output matches again, the failure's files go away.
        Assert.That(Store(Elsewhere).CheckImage("grid", approved, Loose).Outcome, Is.EqualTo(SnapshotOutcome.Identical));
        Assert.That(Files(), Is.EqualTo(new[] { "grid.png", "grid.png.json" }));
    }

    [Test]
    public void ASmallDifferenceIsToleratedElsewhereButNotOnTheApprovingMachine()
    {
        Store(Here, accept: true).CheckImage("grid", Png(Pixels()), Loose);
        var near = Pixels();
        near[7] += 1;
        near[20] -= 2;
        Assert.Multiple(() =>
        {
            Assert.That(Store(Elsewhere).CheckImage("grid", Png(near), Loose).Outcome, Is.EqualTo(SnapshotOutcome.WithinTolerance));
            var same = Store(Here).CheckImage("grid", Png(near), Loose);
            Assert.That(same.Outcome, Is.EqualTo(SnapshotOutcome.Different));
            Assert.That(same.Message, Does.Contain("identical bytes are required"));
            Assert.That(Store(Elsewhere).CheckImage("grid", Png(near), ImageTolerance.Exact).Outcome, Is.EqualTo(SnapshotOutcome.Different), "an exact tolerance holds everywhere");
        });
    }

    [Test]
    public void TooManyDifferingPixelsFailEvenWhenEachIsSmall()
    {
        Store(Here, accept: true).CheckImage("grid", Png(Pixels()), Loose);
        var shifted = Pixels().Select(p => (byte)Math.Min(255, p + 1)).ToArray();
        var result = Store(Elsewhere).CheckImage("grid", Png(shifted), Loose);
        Assert.That(result.Outcome, Is.EqualTo(SnapshotOutcome.Different));
        Assert.That(result.Message, Does.Contain("channel values differ"));
    }

    [Test]
    public void AnImageOfAnotherSizeFails()
    {
        Store(Here, accept: true).CheckImage("grid", Png(Pixels()), Loose);
        var result = Store(Elsewhere).CheckImage("grid", Png(Pixels(5, 6), 5, 6), Loose);
        Assert.That(result.Outcome, Is.EqualTo(SnapshotOutcome.Different));
        Assert.That(result.Message, Does.Contain("5×6×1").And.Contain("6×5×1"));
    }

    [Test]
    public void AMissingSnapshotFailsAndWritesTheActual()
    {
        var result = Store(Here).CheckImage("new", Png(Pixels()), Loose);
        Assert.That(result.Outcome, Is.EqualTo(SnapshotOutcome.Missing));
        Assert.That(result.Message, Does.Contain("DIFFUSION_ACCEPT_SNAPSHOTS=1"));
        Assert.That(Files(), Is.EqualTo(new[] { "new.actual.png" }));
    }

    [Test]
    public void ATensorIsExactOnTheApprovingMachineAndWithinToleranceElsewhere()
    {
        var approved = Tensor();
        Store(Here, accept: true).CheckTensor("latents", approved, Close);
        var near = (float[])approved.Clone();
        near[3] += 2e-6f;
        Assert.Multiple(() =>
        {
            Assert.That(Store(Here).CheckTensor("latents", approved, Close).Outcome, Is.EqualTo(SnapshotOutcome.Identical));
            Assert.That(Store(Elsewhere).CheckTensor("latents", near, Close).Outcome, Is.EqualTo(SnapshotOutcome.WithinTolerance));
            Assert.That(Store(Here).CheckTensor("latents", near, Close).Outcome, Is.EqualTo(SnapshotOutcome.Different));
            Assert.That(Store(Elsewhere).CheckTensor("latents", near, TensorTolerance.Exact).Outcome, Is.EqualTo(SnapshotOutcome.Different),
                "an exact tensor must have the same bits on every machine");
        });
    }

    [Test]
    public void AWrongTensorFailsAndWritesTheActualValues()
    {
        var approved = Tensor();
        Store(Here, accept: true).CheckTensor("latents", approved, Close);
        var wrong = (float[])approved.Clone();
        wrong[Array.IndexOf(wrong, wrong.Min())] -= 0.01f;

        var result = Store(Elsewhere).CheckTensor("latents", wrong, Close);

        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(SnapshotOutcome.Different));
            Assert.That(result.Message, Does.StartWith("latents: min is"));
            Assert.That(Files(), Is.EqualTo(new[] { "latents.actual.tensor.json", "latents.tensor.json" }));
            Assert.That(File.ReadAllText(result.ActualPath!), Does.Contain("\"values\"").And.EndWith("}\n"), "the actual file is whole");
        });
    }

    [Test]
    public void KeptValuesAreComparedElementByElement()
    {
        var approved = Tensor();
        Store(Here, accept: true).CheckTensor("kept", approved, Close, keepValues: true);
        Store(Here, accept: true).CheckTensor("summary", approved, Close);
        // Two elements swapped: the same statistics, different values.
        var swapped = (float[])approved.Clone();
        (swapped[5], swapped[6]) = (swapped[6], swapped[5]);
        Assert.Multiple(() =>
        {
            var kept = Store(Elsewhere).CheckTensor("kept", swapped, Close);
            Assert.That(kept.Outcome, Is.EqualTo(SnapshotOutcome.Different));
            Assert.That(kept.Message, Does.Contain("element 5"));
            Assert.That(Store(Elsewhere).CheckTensor("summary", swapped, Close).Outcome, Is.EqualTo(SnapshotOutcome.WithinTolerance));
        });
    }

    [Test]
    public void ATensorOfAnotherLengthFails()
    {
        Store(Here, accept: true).CheckTensor("latents", Tensor(), Close);
        var result = Store(Elsewhere).CheckTensor("latents", Tensor().AsSpan(1), Close);
        Assert.That(result.Outcome, Is.EqualTo(SnapshotOutcome.Different));
        Assert.That(result.Message, Does.Contain("39 values, the approved tensor has 40"));
    }

    [Test]
    public void AFailedWriteLeavesTheOldFileAndNoTemporaryFile()
    {
        var path = Path.Combine(_folder, "x.png");
        AtomicFile.Write(path, [1, 2, 3]);
        Assert.Throws<IOException>(() => AtomicFile.Write(path, stream =>
        {
            stream.Write([9, 9, 9, 9]);
            throw new IOException("disk full (simulated)");
        }));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(Files(), Is.EqualTo(new[] { "x.png" }));
    }

    [Test]
    public void BadNamesAndTolerancesAreRejectedWithTheReason()
    {
        var store = Store(Here);
        Assert.Multiple(() =>
        {
            Assert.That(() => store.CheckImage("../escape", Png(Pixels()), Loose), Throws.ArgumentException.With.Message.Contains("'/'"));
            Assert.That(() => store.CheckImage("grid", Png(Pixels()), new ImageTolerance(300, 0.1)), Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => store.CheckTensor("t", Tensor(), new TensorTolerance(-1, 0)), Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => store.CheckImage("grid", [1, 2, 3], Loose), Throws.InstanceOf<InvalidDataException>().With.Message.Contains("Not a readable image"));
        });
    }

    [Test]
    public void TheFingerprintNamesTheRuntimeDotNetAndTheInstructionSets()
    {
        var current = SnapshotFingerprint.Current;
        Assert.Multiple(() =>
        {
            Assert.That(current.OnnxRuntime, Does.Match(@"^\d+\.\d+\.\d+"));
            // The kit references no runtime; it asks the one the process loaded.
            Assert.That(current.OnnxRuntime, Is.EqualTo(Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetVersionString()));
            Assert.That(current.DotNet, Is.EqualTo(Environment.Version.ToString()));
            Assert.That(current.ToString(), Does.StartWith($"onnxruntime {current.OnnxRuntime}; .NET {current.DotNet}; "));
            if (System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64)
            {
                Assert.That(current.Cpu, Does.StartWith("X64 ").And.Contain(" sse2"));
                // Read from CPUID, so .NET's own switches (DOTNET_EnableAVX2=0 …) cannot hide an extension the CPU has.
                if (System.Runtime.Intrinsics.X86.Avx2.IsSupported) Assert.That(current.Cpu, Does.Contain(" avx2"));
                if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported) Assert.That(current.Cpu, Does.Contain(" avx512f"));
            }
        });
    }
}
