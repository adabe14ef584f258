using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
namespace Diffusion.Sdk.Pipeline;

/// <summary>
/// Writes a set of files into one folder all or nothing: every file goes to a hidden staging folder next to the
/// target first; only when all are written are they moved in. A failure or a cancellation while staging leaves
/// the target exactly as it was (old files untouched, no new ones). Files of the target that the set does not
/// name are kept.
/// </summary>
public static class ImageSetWriter
{
    /// <summary>Writes <paramref name="count"/> files, <paramref name="name"/>(i) with the bytes <paramref name="encode"/>(i), into <paramref name="folder"/>.</summary>
    /// <param name="folder">The target folder (created when missing).</param>
    /// <param name="count">How many files.</param>
    /// <param name="name">File name of item i (no folder part).</param>
    /// <param name="encode">Bytes of item i.</param>
    /// <param name="cancellationToken">Checked before every file while staging; once the files start moving in, the set is finished.</param>
    /// <exception cref="OperationCanceledException">Cancelled while staging: nothing in the target changed.</exception>
    /// <exception cref="IOException">A file could not be written or moved; the target holds the old files, or (should a move fail half-way) the old files are restored.</exception>
    public static void Write(string folder, int count, Func<int, string> name, Func<int, byte[]> encode, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var target = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        var parent = Path.GetDirectoryName(target) ?? throw new ArgumentException($"'{folder}' is a root folder; name a folder to hold the images.", nameof(folder));
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{Guid.NewGuid():N}.staging"); // short: any target name fits

        Directory.CreateDirectory(staging);
        try
        {
            var names = new string[count];
            for (var i = 0; i < count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                names[i] = name(i);
                File.WriteAllBytes(Path.Combine(staging, names[i]), encode(i));
            }
            cancellationToken.ThrowIfCancellationRequested();
            if (!Directory.Exists(target))
            {
                Directory.Move(staging, target); // one rename: the whole set appears at once
                return;
            }
            MoveIn(staging, target, names);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    // Into an existing folder: each old file the set replaces is first set aside in the staging folder, so a
    // failed move can put every old file back. Renames within one file system are quick and do not copy data.
    private static void MoveIn(string staging, string target, string[] names)
    {
        var backup = Directory.CreateDirectory(Path.Combine(staging, ".old")).FullName;
        var moved = new List<string>(names.Length);
        try
        {
            foreach (var file in names)
            {
                var destination = Path.Combine(target, file);
                if (File.Exists(destination)) File.Move(destination, Path.Combine(backup, file));
                File.Move(Path.Combine(staging, file), destination);
                moved.Add(file);
            }
        }
        catch
        {
            foreach (var file in moved) File.Delete(Path.Combine(target, file));
            foreach (var old in Directory.EnumerateFiles(backup)) File.Move(old, Path.Combine(target, Path.GetFileName(old)), overwrite: true);
            throw;
        }
    }
}
