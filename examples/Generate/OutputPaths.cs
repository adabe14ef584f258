using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Text;

namespace Generate;

/// <summary>
/// Checks --out and --out-dir before any work starts, so that a run that cannot write its result is refused at
/// once (exit 2) instead of failing after sampling: the path is a usable name, its folder can be created and
/// written, and nothing that is not ours would be replaced.
/// </summary>
internal static class OutputPaths
{
    // Linux, macOS and Windows all cap one path component at 255 (bytes or UTF-16 units).
    private const int MaxNameBytes = 255;

    public static string? FileProblem(string path) => FileProblem(path, "--out", ".png", "name a .png file (a grid) or use --out-dir for one file per image");

    /// <summary>The same checks for another single-file output, such as an .npy file.</summary>
    public static string? FileProblem(string path, string option, string extension, string instead)
    {
        if (string.IsNullOrWhiteSpace(path) || !path.EndsWith(extension, StringComparison.OrdinalIgnoreCase)) return $"{option} must name a {extension} file (got '{path}')";
        if (FullPath(path, option, out var full) is { } bad) return bad;
        if (Directory.Exists(full)) return $"{option} '{path}' is a folder; {instead}";
        return NameProblem(full, option) ?? FolderProblem(Path.GetDirectoryName(full)!, option, path);
    }

    public static string? FolderProblem(string folder, string? grid, int batch)
    {
        if (string.IsNullOrWhiteSpace(folder)) return $"--out-dir must name a folder (got '{folder}'); use --out-dir . for the current folder";
        if (FullPath(folder, "--out-dir", out var full) is { } bad) return bad;
        full = full.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        if (File.Exists(full)) return $"--out-dir '{folder}' is a file; name a folder for the images";
        if (NameProblem(full, "--out-dir") is { } name) return name;
        if (Path.GetDirectoryName(full) is not { } parent) return $"--out-dir '{folder}' is a root folder; name a folder below it";
        if (grid is not null && Path.GetFullPath(grid) is var gridPath)
        {
            if (string.Equals(gridPath, full, StringComparison.Ordinal)) return $"--out and --out-dir both name '{grid}'; give the grid and the image folder different paths";
            if (string.Equals(Path.GetDirectoryName(gridPath), full, StringComparison.Ordinal) && ImageIndex(Path.GetFileName(gridPath)) is { } i && i < batch)
                return $"--out '{grid}' is also the image set's {Path.GetFileName(gridPath)} in --out-dir; name the grid differently";
        }
        if (Directory.Exists(full))
        {
            // The set replaces 000.png … only: a folder of that name would be lost, so it is refused.
            foreach (var entry in Directory.EnumerateDirectories(full))
                if (ImageIndex(Path.GetFileName(entry)) is { } i && i < batch)
                    return $"--out-dir '{folder}' holds a folder named {Path.GetFileName(entry)}, where image {i} would go; move it or choose another --out-dir";
            if (WritableProblem(full, "--out-dir", folder) is { } inside) return inside;
        }
        // The images are staged in a folder next to the target, then moved in: the parent must be writable too.
        return FolderProblem(parent, "--out-dir", folder);
    }

    /// <summary>The name of image <paramref name="index"/> in a set.</summary>
    public static string ImageName(int index) => $"{index:000}.png";

    private static int? ImageIndex(string name) =>
        name.EndsWith(".png", StringComparison.Ordinal) && name.Length >= 7 && int.TryParse(name.AsSpan(0, name.Length - 4), System.Globalization.NumberStyles.None, null, out var i)
        && ImageName(i) == name ? i : null;

    private static string? FullPath(string path, string option, out string full)
    {
        full = "";
        if (path.IndexOfAny(Path.GetInvalidPathChars()) >= 0) return $"{option} '{path}' holds a character no path may contain";
        try
        {
            full = Path.GetFullPath(path);
            return null;
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return $"{option} '{path}' is not a usable path ({e.Message})";
        }
    }

    private static string? NameProblem(string full, string option)
    {
        foreach (var part in full.Split(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar))
        {
            var bytes = Encoding.UTF8.GetByteCount(part);
            if (bytes > MaxNameBytes)
                return $"{option}: the name '{Shorten(part)}' is {bytes} bytes long; a file or folder name may have at most {MaxNameBytes}";
        }
        return null;
    }

    // The nearest folder that exists must be a folder (not a file) and writable, so that the rest can be created.
    private static string? FolderProblem(string folder, string option, string given)
    {
        var existing = folder;
        while (!Directory.Exists(existing))
        {
            if (File.Exists(existing)) return $"{option} '{given}': '{existing}' is a file, so no folder can be created there";
            existing = Path.GetDirectoryName(existing);
            if (existing is null) return $"{option} '{given}': no part of the path exists";
        }
        return WritableProblem(existing, option, given);
    }

    private static string? WritableProblem(string folder, string option, string given)
    {
        var probe = Path.Combine(folder, $".write-probe-{Guid.NewGuid():N}.tmp");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"{option} '{given}': the folder '{folder}' cannot be written ({e.Message})";
        }
    }

    private static string Shorten(string name) => name.Length <= 40 ? name : name[..20] + "…" + name[^12..];
}
