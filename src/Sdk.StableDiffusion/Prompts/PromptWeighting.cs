using System.Numerics.Tensors;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>The three scalars of one prompt's re-weighting (<see cref="PromptWeighting.Apply"/>), float32 as the reference computes them.</summary>
/// <param name="MeanBefore">The mean of every value of the unweighted embeddings.</param>
/// <param name="MeanAfter">The mean after each position was multiplied by its weight.</param>
/// <param name="Factor"><paramref name="MeanBefore"/> / <paramref name="MeanAfter"/>, which multiplies every value at the end.</param>
public readonly record struct PromptReweighting(float MeanBefore, float MeanAfter, float Factor);

/// <summary>
/// The long-prompt pipeline's re-weighting of a prompt's embeddings (<c>get_weighted_text_embeddings</c>): each
/// position is multiplied by its weight, then everything by mean(before) / mean(after), so that the signed mean of the
/// whole [positions × width] block is what it was. One factor per prompt, over all of its windows, begin, end and pad
/// positions included (the reference's choice; its code leaves per-window normalisation as an open question).
/// </summary>
/// <remarks>
/// The factor is a ratio of signed means, so it can be far from 1 (or change sign) when the mean is near zero, and
/// then it magnifies the last bits of the means: a correctly rounded mean moves the reference's W6 case by 2e-4. So
/// the arithmetic is the reference's float32, means included: torch's own summation order
/// (<see cref="TorchFloat32Sum"/>). From the reference's unweighted embeddings this gives its means, factors and
/// final embeddings bit for bit.
/// </remarks>
public static class PromptWeighting
{
    /// <summary>Re-weights <paramref name="embeddings"/> in place.</summary>
    /// <param name="embeddings">[positions × width], position after position.</param>
    /// <param name="positionWeights">One weight per position.</param>
    /// <returns>The means and the factor; (mean, mean, 1) and the embeddings untouched when every weight is 1, which
    /// is what the reference's arithmetic gives then.</returns>
    /// <exception cref="ArgumentException">The sizes disagree.</exception>
    public static PromptReweighting Apply(Span<float> embeddings, IReadOnlyList<float> positionWeights)
    {
        ArgumentNullException.ThrowIfNull(positionWeights);
        var positions = positionWeights.Count;
        if (positions == 0 || embeddings.Length % positions != 0)
            throw new ArgumentException($"{embeddings.Length} embedding values cannot be {positions} positions of equal width.", nameof(positionWeights));
        var width = embeddings.Length / positions;
        var before = Mean(embeddings);
        if (positionWeights.All(w => w == 1f)) return new PromptReweighting(before, before, 1f);

        for (var p = 0; p < positions; p++)
            TensorPrimitives.Multiply(embeddings.Slice(p * width, width), positionWeights[p], embeddings.Slice(p * width, width));
        var after = Mean(embeddings);
        var factor = before / after;
        TensorPrimitives.Multiply(embeddings, factor, embeddings);
        return new PromptReweighting(before, after, factor);
    }

    private static float Mean(ReadOnlySpan<float> values) => TorchFloat32Sum.Mean(values);
}
