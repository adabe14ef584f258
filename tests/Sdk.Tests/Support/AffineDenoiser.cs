using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Support;

/// <summary>
/// A denoiser whose output is known in closed form, so guidance can be checked value by value: item b gets
/// out = g(c)·x + h(c)·(1 + 0.1·i), c = the item's class label (or the first hidden-state value of the item),
/// i = the element index. Different conditions give outputs of different spread (gain g), so the guided output's
/// standard deviation differs from the conditional one and the rescale has work to do. Records every call's batch.
/// </summary>
public sealed class AffineDenoiser(int? fixedBatch = null) : IDenoiser
{
    /// <summary>The gain applied to the sample for condition <paramref name="c"/>.</summary>
    public static double Gain(double c) => c < 0 ? 0.4 : 1.5 + 0.25 * c;

    /// <summary>The offset for condition <paramref name="c"/>.</summary>
    public static double Offset(double c) => c < 0 ? -0.3 : 0.2 * c;

    /// <summary>The exact output of one element, in double.</summary>
    public static double Exact(double x, double c, int i) => Gain(c) * x + Offset(c) * (1 + 0.1 * i);

    /// <summary>Batch size of each call, in order.</summary>
    public List<int> Batches { get; } = [];

    /// <summary>Conditions seen by each call, item after item.</summary>
    public List<double[]> Conditions { get; } = [];

    /// <inheritdoc/>
    public int? FixedBatchSize => fixedBatch;

    /// <inheritdoc/>
    public void Dispose() { }

    /// <inheritdoc/>
    public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default)
    {
        if (fixedBatch is { } b && input.Shape.Batch > b) throw new InvalidOperationException($"fixed batch {b}, got {input.Shape.Batch}");
        Batches.Add(input.Shape.Batch);
        var d = input.Shape.ItemLength;
        var perItemHidden = input.EncoderHiddenStates.IsEmpty ? 0 : input.EncoderHiddenStates.Length / input.Shape.Batch;
        var conditions = new double[input.Shape.Batch];
        for (var item = 0; item < input.Shape.Batch; item++)
        {
            conditions[item] = !input.ClassLabels.IsEmpty ? input.ClassLabels[item] : input.EncoderHiddenStates[item * perItemHidden];
            for (var i = 0; i < d; i++)
                output[item * d + i] = (float)Exact(input.Sample[item * d + i], conditions[item], i);
        }
        Conditions.Add(conditions);
    }
}
