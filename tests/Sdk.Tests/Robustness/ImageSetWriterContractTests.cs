using Diffusion.Sdk.Pipeline;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>
/// The rest of <see cref="ImageSetWriter"/>'s contract: bad arguments refused before anything is written, cancellation
/// checked before every file (and once more after the last), and a failed move-in that takes back the new files it
/// had already moved, including those that replaced nothing.
/// </summary>
[TestFixture]
public sealed class ImageSetWriterContractTests
{
    private string _dir = "";

    [SetUp]
    public void CreateFolder()
    {
        _dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "set-contract-" + Guid.NewGuid().ToString("N"))).FullName;
        var set = Directory.CreateDirectory(Path.Combine(_dir, "set")).FullName;
        for (var i = 0; i < 3; i++) File.WriteAllBytes(Path.Combine(set, $"{i:000}.png"), [(byte)i]);
    }

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    private static string Name(int i) => $"{i:000}.png";

    [Test]
    public void BadArgumentsAreRefusedBeforeAnythingIsWritten()
    {
        var before = Cli.Snapshot(_dir);
        var calls = 0;
        byte[] Encode(int i) { calls++; return [1]; }
        Assert.Multiple(() =>
        {
            Assert.Throws<ArgumentException>(() => ImageSetWriter.Write("   ", 1, Name, Encode), "a blank folder");
            Assert.Throws<ArgumentNullException>(() => ImageSetWriter.Write(null!, 1, Name, Encode));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => ImageSetWriter.Write(Path.Combine(_dir, "set"), -1, Name, Encode))!.ParamName, Is.EqualTo("count"));
            // count 0: nothing would be written even if the check failed.
            var root = Assert.Throws<ArgumentException>(() => ImageSetWriter.Write("/", 0, Name, Encode))!;
            Assert.That(root.Message, Does.Contain("'/' is a root folder"));
        });
        Assert.That(calls, Is.Zero);
        Assert.That(Cli.Snapshot(_dir), Is.EqualTo(before));
        Assert.That(Directory.Exists(Path.Combine(Environment.CurrentDirectory, "   ")), Is.False);
    }

    [Test]
    public void NoFileIsEncodedAfterTheCancellation()
    {
        var before = Cli.Snapshot(_dir);
        using var cancel = new CancellationTokenSource();
        var encoded = new List<int>();
        Assert.Throws<OperationCanceledException>(() => ImageSetWriter.Write(Path.Combine(_dir, "set"), 10, Name, i =>
        {
            encoded.Add(i);
            if (i == 4) cancel.Cancel();
            return [42];
        }, cancel.Token));
        Assert.That(encoded, Is.EqualTo(new[] { 0, 1, 2, 3, 4 }), "checked before every file");
        Assert.That(Cli.Snapshot(_dir), Is.EqualTo(before));
    }

    [Test]
    public void ACancellationDuringTheLastFileStillLeavesTheOldSet()
    {
        var before = Cli.Snapshot(_dir);
        using var cancel = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() => ImageSetWriter.Write(Path.Combine(_dir, "set"), 3, Name, i =>
        {
            if (i == 2) cancel.Cancel();
            return [42];
        }, cancel.Token));
        Assert.That(Cli.Snapshot(_dir), Is.EqualTo(before), "checked once more before moving in");
    }

    [Test]
    public void AFailedMoveInTakesBackTheNewFilesItHadMoved()
    {
        // 000 and 001 replace old files, new.png replaces nothing, then zzz.png cannot be moved (a folder is in the way).
        Directory.CreateDirectory(Path.Combine(_dir, "set", "zzz.png"));
        var before = Cli.Snapshot(_dir);
        string[] names = ["000.png", "001.png", "new.png", "zzz.png"];
        Assert.That(() => ImageSetWriter.Write(Path.Combine(_dir, "set"), names.Length, i => names[i], _ => [42]),
            Throws.InstanceOf<IOException>().Or.InstanceOf<UnauthorizedAccessException>());
        Assert.That(Cli.Snapshot(_dir), Is.EqualTo(before), "old files back, new.png gone, no staging left");
    }

    [Test]
    public void AFolderWithATrailingSeparatorIsTheSameFolder()
    {
        ImageSetWriter.Write(Path.Combine(_dir, "set") + Path.DirectorySeparatorChar, 1, Name, _ => [9]);
        Assert.That(File.ReadAllBytes(Path.Combine(_dir, "set", "000.png")), Is.EqualTo(new byte[] { 9 }));
        Assert.That(Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName), Is.EqualTo(new[] { "set" }), "no staging left");
    }
}
