using Diffusion.Sdk.Pipeline;

namespace Generate;

/// <summary>
/// Everything one run writes (an image set, a grid or single image, <c>.npy</c> files), written all or nothing: every
/// file is encoded and written to a temporary file beside its target first; only when all of them (and the image
/// set, staged by <see cref="ImageSetWriter"/>) are on disk do the renames put them in place. A failure or a
/// cancellation before that leaves every earlier file as it was, and no temporary file behind.
/// </summary>
internal sealed class OutputSet
{
    private readonly List<(string Path, Func<byte[]> Bytes)> _files = [];
    private (string Folder, int Count, Func<int, byte[]> Encode)? _images;

    /// <summary>Adds one file.</summary>
    public OutputSet File(string? path, Func<byte[]> bytes)
    {
        if (path is not null) _files.Add((path, bytes));
        return this;
    }

    /// <summary>Adds the image set: <c>000.png</c>, <c>001.png</c>, … in <paramref name="folder"/>.</summary>
    public OutputSet Images(string? folder, int count, Func<int, byte[]> encode)
    {
        if (folder is not null) _images = (folder, count, encode);
        return this;
    }

    /// <summary>Writes everything, reporting each output on standard output; returns the exit code.</summary>
    public int Write(CancellationToken cancellationToken)
    {
        var staged = new List<(string Temp, string Target, string Given)>();
        try
        {
            foreach (var (path, bytes) in _files)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var target = Path.GetFullPath(path);
                var folder = Path.GetDirectoryName(target)!;
                Directory.CreateDirectory(folder);
                var temp = Path.Combine(folder, $".{Guid.NewGuid():N}.tmp"); // short: any target name fits
                staged.Add((temp, target, path));
                using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write)) stream.Write(bytes());
            }
            if (_images is { } set)
            {
                ImageSetWriter.Write(set.Folder, set.Count, OutputPaths.ImageName, set.Encode, cancellationToken);
                Console.WriteLine($"wrote {set.Count} image{(set.Count == 1 ? "" : "s")} to {set.Folder}");
            }
            foreach (var (temp, target, given) in staged)
            {
                System.IO.File.Move(temp, target, overwrite: true);
                Console.WriteLine($"wrote {given}");
            }
            return ExitCodes.Success;
        }
        catch (OperationCanceledException)
        {
            return Runner.Fail("cancelled while writing the outputs; nothing was written", ExitCodes.Cancelled);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Runner.Fail($"could not write the outputs, so none was written: {e.Message}", ExitCodes.Failed);
        }
        finally
        {
            foreach (var (temp, _, _) in staged)
                if (System.IO.File.Exists(temp)) System.IO.File.Delete(temp);
        }
    }
}
