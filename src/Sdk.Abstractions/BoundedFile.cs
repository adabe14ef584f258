using System.Text;

namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// Reads a file that a user hands in (a start image, a mask, a configuration, a tokenizer file, an adapter) with a
/// size limit. <c>File.ReadAllBytes</c> reads a device such as <c>/dev/zero</c>, or a pipe that never ends, until memory
/// runs out and the process dies; here the read stops one byte past the limit and the caller's typed error says why.
/// Pipes and process substitutions (<c>&lt;(curl …)</c>) still work when what they deliver fits.
/// </summary>
public static class BoundedFile
{
    private const int ChunkBytes = 1 << 16;

    /// <summary>The whole file, at most <paramref name="maxBytes"/> bytes.</summary>
    /// <param name="path">The file.</param>
    /// <param name="maxBytes">The largest file accepted.</param>
    /// <param name="refuse">Makes the caller's typed error from a sentence that says what is wrong (it is too large, or unreadable, and why).</param>
    /// <param name="cancellationToken">Stops a slow read (a pipe) between chunks.</param>
    /// <exception cref="Exception">What <paramref name="refuse"/> makes, when the file is larger than the limit or cannot be read.</exception>
    public static byte[] ReadAllBytes(string path, long maxBytes, Func<string, Exception> refuse, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(refuse);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        maxBytes = Math.Min(maxBytes, Array.MaxLength);
        string problem;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            // A regular file's length is known up front; a device (whose length reads 0) or a pipe is read up to the limit.
            var known = stream.CanSeek ? stream.Length : 0;
            if (known > maxBytes) throw refuse(TooLarge(known, maxBytes));
            // Grown by doubling up to one byte past the limit, never beyond (a MemoryStream would double past what .NET allocates).
            var buffer = new byte[(int)Math.Min(Math.Max(known, ChunkBytes), maxBytes + 1)];
            var length = 0;
            int read;
            while ((read = stream.Read(buffer, length, buffer.Length - length)) > 0)
            {
                length += read;
                cancellationToken.ThrowIfCancellationRequested();
                if (length > maxBytes) break;
                if (length == buffer.Length) Array.Resize(ref buffer, (int)Math.Min(2L * buffer.Length, maxBytes + 1));
            }
            if (length <= maxBytes) return length == buffer.Length ? buffer : buffer[..length];
            problem = TooLarge(null, maxBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException || e.GetType() == typeof(ArgumentException))
        {
            problem = $"it could not be read: {e.Message}";
        }
        throw refuse(problem);
    }

    /// <summary>The whole file as UTF-8 text (a byte-order mark is skipped), at most <paramref name="maxBytes"/> bytes.</summary>
    /// <inheritdoc cref="ReadAllBytes" path="/param"/>
    /// <exception cref="Exception">What <paramref name="refuse"/> makes, when the file is larger than the limit or cannot be read.</exception>
    public static string ReadAllText(string path, long maxBytes, Func<string, Exception> refuse, CancellationToken cancellationToken = default)
    {
        var bytes = ReadAllBytes(path, maxBytes, refuse, cancellationToken);
        var bom = bytes.AsSpan().StartsWith(Encoding.UTF8.Preamble) ? Encoding.UTF8.Preamble.Length : 0;
        return Encoding.UTF8.GetString(bytes, bom, bytes.Length - bom);
    }

    private static string TooLarge(long? length, long maxBytes) =>
        $"it is {(length is { } l ? $"{Mebibytes(l)}" : "longer than that")}, more than the {Mebibytes(maxBytes)} read for such a file (a device such as /dev/zero, or the wrong file?)";

    private static string Mebibytes(long bytes) => bytes >= 1 << 20 ? $"{bytes / (double)(1 << 20):0.#} MiB" : $"{bytes:N0} bytes";
}
