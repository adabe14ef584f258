using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Pipeline;

/// <summary>
/// Runs the model on the whole batch until it reports running out of memory, then on two halves from then on
/// (items are independent, so the results are the same bytes). A half that still does not fit is reported.
/// </summary>
/// <param name="inner">The model's denoiser.</param>
/// <param name="onHalved">Called once with the batch size when the first out-of-memory failure switches to halves.</param>
public sealed class HalvingDenoiser(IDenoiser inner, Action<int> onHalved) : IDenoiser
{
    private bool _halved;

    /// <inheritdoc/>
    public int? FixedBatchSize => inner.FixedBatchSize;

    /// <summary>Calls made to the inner denoiser so far.</summary>
    public int Evaluations { get; private set; }

    /// <summary>Disposes the inner denoiser, which this one owns.</summary>
    public void Dispose() => inner.Dispose();

    /// <inheritdoc/>
    public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default)
    {
        var batch = input.Shape.Batch;
        if (!_halved)
        {
            try
            {
                Evaluations++;
                inner.Predict(input, output, cancellationToken);
                return;
            }
            catch (ModelOutOfMemoryException) when (batch > 1)
            {
                _halved = true;
                onHalved(batch);
            }
        }
        if (batch == 1)
        {
            Evaluations++;
            inner.Predict(input, output, cancellationToken);
            return;
        }

        var first = batch / 2;
        try
        {
            PredictPart(input, output, 0, first, cancellationToken);
            PredictPart(input, output, first, batch - first, cancellationToken);
        }
        catch (ModelOutOfMemoryException e)
        {
            // Down to one item at a time, a smaller batch cannot help; fewer pixels can.
            var advice = first == 1 ? "even one item at a time does not fit: use a smaller width and height" : "use a smaller batch, or a smaller width and height";
            throw new ModelOutOfMemoryException($"The model ran out of memory for a batch of {batch} and again for half of it ({first}); {advice}.", e);
        }
    }

    private void PredictPart(in DenoiserInput input, Span<float> output, int start, int count, CancellationToken cancellationToken)
    {
        var item = input.Shape.ItemLength;
        var outputItem = output.Length / input.Shape.Batch; // fewer channels than the sample for a UNet that reads extra ones
        var part = input.Items(input.Sample.Slice(start * item, count * item), start, count);
        Evaluations++;
        inner.Predict(part, output.Slice(start * outputItem, count * outputItem), cancellationToken);
    }
}
