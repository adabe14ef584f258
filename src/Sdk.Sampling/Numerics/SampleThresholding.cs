using Diffusion.Sdk.Abstractions;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// Keeps a predicted x₀ inside the data range: static clipping, and the dynamic thresholding of Imagen
/// (Saharia et al. 2022, §2.3): per sample, s = the p-quantile of |x₀|, limited to [1, max]; x₀ ← clamp(x₀, −s, s)/s.
/// </summary>
public static class SampleThresholding
{
    /// <summary>Clamps every element to [−<paramref name="range"/>, <paramref name="range"/>] in place.</summary>
    /// <remarks>
    /// max(min(x, r), −r) in one pass, with the IEEE 754-2019 minimum and maximum of <see cref="Vector.Min{T}"/> and
    /// <see cref="Vector.Max{T}"/> (a NaN stays NaN, −0 orders below +0), the semantics of the
    /// <c>TensorPrimitives.Min</c>/<c>Max</c> pair it replaces, so the bits are the same.
    /// </remarks>
    public static void Clip(Span<float> sample, double range) =>
        ElementWise.Apply(new Clamp((float)range), sample, sample);

    /// <summary>Dynamic thresholding in place, each of <paramref name="batchSize"/> items on its own.</summary>
    /// <param name="sample">The predicted x₀ of the whole batch, item after item.</param>
    /// <param name="batchSize">Number of items; the sample length must be a multiple of it.</param>
    /// <param name="ratio">The quantile p of |x₀|, in (0, 1].</param>
    /// <param name="maxValue">The largest threshold s may take.</param>
    /// <param name="scratch">At least one item's length of working space (its content is overwritten).</param>
    public static void Dynamic(Span<float> sample, int batchSize, double ratio, double maxValue, Span<float> scratch)
    {
        var itemLength = sample.Length / batchSize;
        for (var b = 0; b < batchSize; b++)
        {
            var item = sample.Slice(b * itemLength, itemLength);
            var s = Quantile(item, ratio, scratch[..itemLength]);
            // clamp(s, min = 1, max = maxValue), applied in that order as the reference does (max wins when max < 1).
            s = Math.Min(Math.Max(s, 1f), (float)maxValue);
            TensorPrimitives.Min(item, s, item);
            TensorPrimitives.Max(item, -s, item);
            TensorPrimitives.Divide(item, s, item);
        }
    }

    /// <summary>The <paramref name="p"/>-quantile of |x| with linear interpolation between order statistics.</summary>
    public static float Quantile(ReadOnlySpan<float> x, double p, Span<float> scratch)
    {
        TensorPrimitives.Abs(x, scratch);
        scratch.Sort();
        var position = p * (scratch.Length - 1);
        var lower = (int)Math.Floor(position);
        var upper = Math.Min(lower + 1, scratch.Length - 1);
        var weight = (float)(position - lower);
        return scratch[lower] + weight * (scratch[upper] - scratch[lower]);
    }

    /// <summary>max(min(x, r), −r).</summary>
    private readonly record struct Clamp(float Range) : ElementWise.IOperator1
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x) where T : struct, IFloatVector<T> => PredictionMath.ClampSymmetric(x, Range);
    }
}
