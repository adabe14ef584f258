namespace Generate;

/// <summary>
/// Several output files written all or nothing: each is first written to a temporary file beside its target, and the
/// temporary files move into place only once every one of them (and whatever else the caller writes in between) was
/// written. Disposing without <see cref="Commit"/> deletes them, leaving the targets as they were.
/// </summary>
internal sealed class StagedFiles : IDisposable
{
    private readonly List<(string Temp, string Target)> _staged = [];

    /// <summary>The targets staged so far, as given.</summary>
    public List<string> Paths { get; } = [];

    /// <summary>Writes <paramref name="bytes"/> to a temporary file in <paramref name="path"/>'s folder (created when missing).</summary>
    public void Stage(string path, byte[] bytes)
    {
        var target = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(folder);
        var temp = Path.Combine(folder, $".{Guid.NewGuid():N}.tmp"); // short: any target name fits
        _staged.Add((temp, target));
        File.WriteAllBytes(temp, bytes);
        Paths.Add(path);
    }

    /// <summary>Moves every staged file onto its target.</summary>
    public void Commit()
    {
        foreach (var (temp, target) in _staged) File.Move(temp, target, overwrite: true);
        _staged.Clear();
    }

    /// <summary>Deletes the staged files that were not committed.</summary>
    public void Dispose()
    {
        foreach (var (temp, _) in _staged)
        {
            try
            {
                File.Delete(temp);
            }
            catch (IOException)
            {
                // Best effort: a leftover hidden .tmp file is harmless.
            }
        }
        _staged.Clear();
    }
}
