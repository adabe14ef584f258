using System.Globalization;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Pipeline;

/// <summary>
/// Sizes a batch before any work starts: its tensors must be addressable (one .NET array each) and the run's
/// buffers must fit in the memory the runtime may use, so a huge batch is refused with a typed error instead of
/// an overflow or an out-of-memory failure minutes later.
/// </summary>
internal static class BatchMemory
{
    // Float buffers of one item the run holds at once: the sample, the model input and output, the next sample,
    // and the denoiser's bound input and output; guidance doubles the model's input and output (two passes).
    private const int Buffers = 6;
    private const int GuidedExtra = 4;

    public static TensorShape Check(int batch, int channels, int height, int width, bool guided) =>
        Check(batch, channels, height, width, guided, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);

    public static TensorShape Check(int batch, int channels, int height, int width, bool guided, long availableBytes) =>
        Check(batch, channels, height, width, guided, availableBytes, 0, "BatchSize");

    /// <summary>
    /// As <see cref="Check(int, int, int, int, bool, long)"/>, for a run that also holds <paramref name="outputValuesPerItem"/>
    /// float values per item for the whole batch at the end (a VAE's decoded pictures), all in one array.
    /// </summary>
    /// <param name="batch">Items in the batch.</param>
    /// <param name="channels">The latent's channels.</param>
    /// <param name="height">The latent's height.</param>
    /// <param name="width">The latent's width.</param>
    /// <param name="guided">Whether classifier-free guidance doubles the model's passes.</param>
    /// <param name="availableBytes">The memory the run may use.</param>
    /// <param name="outputValuesPerItem">Float values per item held for the whole batch at the end (0: none).</param>
    /// <param name="batchOption">The request property the batch comes from, for the message.</param>
    public static TensorShape Check(int batch, int channels, int height, int width, bool guided, long availableBytes, long outputValuesPerItem, string batchOption)
    {
        var itemLength = checked((long)channels * height * width);
        if (itemLength > Array.MaxLength || outputValuesPerItem > Array.MaxLength)
            throw new SamplingOptionException("Height", height.ToString(CultureInfo.InvariantCulture), $"a size whose {channels}×{height}×{width} item{(outputValuesPerItem > 0 ? $" and {outputValuesPerItem}-value output" : "")} fits in one array ({Array.MaxLength} values)");
        var passes = guided ? 2 : 1;
        var maxByArray = Array.MaxLength / Math.Max(itemLength * passes, outputValuesPerItem);
        var bytesPerItem = itemLength * sizeof(float) * (Buffers + (guided ? GuidedExtra : 0)) + sizeof(long) * passes + outputValuesPerItem * sizeof(float);
        var maxByMemory = Math.Max(availableBytes, 0) / bytesPerItem;
        var max = Math.Min(maxByArray, maxByMemory);
        if (batch > max)
        {
            var why = maxByMemory < maxByArray
                ? $"{FormatBytes(bytesPerItem)} per image{(guided ? " with guidance" : "")}, {FormatBytes(availableBytes)} available"
                : $"{itemLength} values per image{(guided ? ", twice with guidance" : "")} in one array of at most {Array.MaxLength}";
            throw new SamplingOptionException(batchOption, batch.ToString(CultureInfo.InvariantCulture), $"an integer from 1 to {max} on this machine ({why})");
        }
        return new TensorShape(batch, channels, height, width);
    }

    private static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.#", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.#", CultureInfo.InvariantCulture) + " MiB",
        _ => (bytes / 1024.0).ToString("0.#", CultureInfo.InvariantCulture) + " KiB",
    };
}
