using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>Image sets are all or nothing: a failure or cancellation while writing leaves the folder exactly as it was.</summary>
[TestFixture]
public sealed class ImageSetWriterTests
{
    private string _dir = "";

    [SetUp]
    public void CreateFolder()
    {
        _dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "robust-set-" + Guid.NewGuid().ToString("N"))).FullName;
        var set = Directory.CreateDirectory(Path.Combine(_dir, "set")).FullName;
        for (var i = 0; i < 3; i++) File.WriteAllBytes(Path.Combine(set, $"{i:000}.png"), [(byte)i]);
    }

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    private static string Name(int i) => $"{i:000}.png";

    [Test]
    public void CancellingHalfWayLeavesTheOldSetUntouched()
    {
        var before = Cli.Snapshot(_dir);
        using var cancel = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() => ImageSetWriter.Write(Path.Combine(_dir, "set"), 1000, Name, i =>
        {
            if (i == 500) cancel.Cancel(); // Ctrl-C in the middle of a large set
            return [42];
        }, cancel.Token));
        Assert.That(Cli.Snapshot(_dir), Is.EqualTo(before));
    }

    [Test]
    public void AFailingImageLeavesTheOldSetUntouched()
    {
        var before = Cli.Snapshot(_dir);
        Assert.Throws<IOException>(() => ImageSetWriter.Write(Path.Combine(_dir, "set"), 5, Name, i => i == 3 ? throw new IOException("disk full") : [42]));
        Assert.That(Cli.Snapshot(_dir), Is.EqualTo(before));
    }

    [Test]
    public void AFolderWhereAnImageGoesFailsWithoutMixingOldAndNew()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "set", "003.png"));
        var before = Cli.Snapshot(_dir);
        Assert.That(() => ImageSetWriter.Write(Path.Combine(_dir, "set"), 5, Name, _ => [42]), Throws.InstanceOf<IOException>().Or.InstanceOf<UnauthorizedAccessException>());
        Assert.That(Cli.Snapshot(_dir), Is.EqualTo(before), "000 to 002 restored, 004 never appears");
    }

    [Test]
    public void ANewSetAppearsWholeAndAnOldOneIsReplacedWhole()
    {
        ImageSetWriter.Write(Path.Combine(_dir, "new"), 4, Name, i => [(byte)(10 + i)]);
        ImageSetWriter.Write(Path.Combine(_dir, "set"), 2, Name, i => [(byte)(20 + i)]);
        Assert.That(Directory.GetFiles(Path.Combine(_dir, "new")).Select(Path.GetFileName).Order(), Is.EqualTo(new[] { "000.png", "001.png", "002.png", "003.png" }));
        Assert.That(File.ReadAllBytes(Path.Combine(_dir, "set", "001.png")), Is.EqualTo(new byte[] { 21 }));
        Assert.That(File.ReadAllBytes(Path.Combine(_dir, "set", "002.png")), Is.EqualTo(new byte[] { 2 }), "a file the set does not name is kept");
        Assert.That(Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName), Is.EquivalentTo(new[] { "new", "set" }), "no staging left");
    }
}
