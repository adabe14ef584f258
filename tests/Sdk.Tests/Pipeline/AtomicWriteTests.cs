using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;

namespace Diffusion.Sdk.Tests.Pipeline;

/// <summary>
/// The promises of <see cref="ImageEncoder.WriteAtomically"/>: a reader of the final path sees the previous file or
/// the new one, never a part of either; a write that fails leaves the previous file as it was and no temporary file.
/// </summary>
[TestFixture]
public sealed class AtomicWriteTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "atomic-" + Guid.NewGuid().ToString("N"))).FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void AReaderNeverSeesAPartialFile()
    {
        // Two large, different contents written in turn while another thread reads the final path as fast as it
        // can. A direct write (truncate, then fill) is seen empty or half-written within a few rounds; a write to a
        // temporary file renamed over the final path never is.
        var path = Path.Combine(_folder, "image.png");
        byte[] a = Enumerable.Repeat((byte)0xAA, 4 << 20).ToArray(), b = Enumerable.Repeat((byte)0x55, (4 << 20) + 123).ToArray();
        ImageEncoder.WriteAtomically(path, a);
        using var stop = new CancellationTokenSource();
        var reads = 0;
        var torn = new List<string>();
        var reader = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                byte[] seen;
                try { seen = File.ReadAllBytes(path); }
                catch (FileNotFoundException) { lock (torn) torn.Add("the final path was missing"); continue; }
                reads++;
                if (!(seen.AsSpan().SequenceEqual(a) || seen.AsSpan().SequenceEqual(b)))
                    lock (torn) torn.Add($"a read of {seen.Length} bytes that is neither file");
            }
        });
        for (var round = 0; round < 40 && torn.Count == 0; round++)
            ImageEncoder.WriteAtomically(path, round % 2 == 0 ? b : a);
        stop.Cancel();
        reader.Wait();
        TestContext.Out.WriteLine($"{reads} reads during the writes");
        Assert.That(torn, Is.Empty);
        Assert.That(reads, Is.GreaterThan(0), "the reader must have run");
        Assert.That(Directory.GetFiles(_folder), Is.EqualTo(new[] { path }), "no temporary file is left");
    }

    [Test]
    public void TheNewFileArrivesByRenameNotByWritingTheFinalPath()
    {
        // The directory's change notifications (inotify on Linux) show how the final name came to be: renamed from
        // a temporary name in the same folder, never created or written under its own name.
        var path = Path.Combine(_folder, "grid.png");
        ImageEncoder.WriteAtomically(path, [1, 2, 3]);
        var events = new List<string>();
        using (var watcher = new FileSystemWatcher(_folder) { NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size, IncludeSubdirectories = false })
        {
            void Record(string what, string name) { lock (events) events.Add($"{what} {name}"); }
            watcher.Created += (_, e) => Record("created", e.Name!);
            watcher.Changed += (_, e) => Record("changed", e.Name!);
            watcher.Deleted += (_, e) => Record("deleted", e.Name!);
            watcher.Renamed += (_, e) => Record($"renamed-from {e.OldName} to", e.Name!);
            watcher.EnableRaisingEvents = true;
            ImageEncoder.WriteAtomically(path, Enumerable.Range(0, 100_000).Select(i => (byte)i).ToArray());
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (DateTime.UtcNow < deadline && !events.Any(e => e.EndsWith(" grid.png"))) Thread.Sleep(20);
            Thread.Sleep(200);
        }
        string[] seen;
        lock (events) seen = events.ToArray();
        TestContext.Out.WriteLine(string.Join("\n", seen));
        Assert.That(seen.Where(e => e.EndsWith(" grid.png")), Is.Not.Empty.And.All.StartsWith("renamed-from ."), "the final name appears only by rename of a hidden temporary file");
        Assert.That(File.ReadAllBytes(path), Has.Length.EqualTo(100_000));
    }

    [Test]
    public void AFailedRenameLeavesThePreviousFileAndNoTemporaryFile()
    {
        // The final path is a folder holding the previous image: the rename onto it fails after the bytes are written.
        var path = Path.Combine(_folder, "out.png");
        Directory.CreateDirectory(path);
        var previous = Path.Combine(path, "previous.png");
        File.WriteAllBytes(previous, [9, 8, 7]);
        Assert.Throws(Is.InstanceOf<IOException>().Or.InstanceOf<UnauthorizedAccessException>(), () => ImageEncoder.WriteAtomically(path, [1, 2, 3, 4]));
        Assert.That(Directory.GetFiles(_folder), Is.Empty, "the temporary file is removed");
        Assert.That(File.ReadAllBytes(previous), Is.EqualTo(new byte[] { 9, 8, 7 }));
    }
}
