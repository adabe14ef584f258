using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// The conditioning of a guidance-distilled UNet (LCM: an extra <c>timestep_cond</c> input): the family's own
/// conditioning without guidance rows, plus every item's <see cref="GuidanceScaleEmbedding"/> of the request's guidance
/// scale. The reference's pipelines run no classifier-free guidance for such a UNet (its one pass already follows the
/// guidance it was distilled with), so the pipeline asks for no unconditional rows and the batch is never doubled.
/// </summary>
/// <param name="inner">The family's conditioner (CLIP text for SD 1.x/2.x, the two encoders of SDXL).</param>
/// <param name="dimension">The width of the UNet's <c>timestep_cond</c> input (its <c>time_cond_proj_dim</c>), read from the session.</param>
/// <param name="inputName">The input's name.</param>
public sealed class GuidanceEmbeddingConditioner(IConditioner inner, int dimension, string inputName = GuidanceScaleEmbedding.InputName) : IConditioner
{
    /// <summary>The width of the embedding.</summary>
    public int Dimension { get; } = dimension >= 4 ? dimension
        : throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "The guidance embedding needs a width of at least 4 (time_cond_proj_dim).");

    /// <inheritdoc/>
    public void Check(ConditioningContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        inner.Check(context with { Guided = false });
    }

    /// <inheritdoc/>
    public ModelConditioning Build(ConditioningContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var built = inner.Build(context with { Guided = false }, cancellationToken);
        var rows = built.Rows;
        var values = new float[rows * Dimension];
        GuidanceScaleEmbedding.Write(context.Request.GuidanceScale, Dimension, values);
        for (var r = 1; r < rows; r++) values.AsSpan(0, Dimension).CopyTo(values.AsSpan(r * Dimension));
        return new ModelConditioning(rows, built.HasUnconditionalRows, built.EncoderHiddenStates, built.ClassLabels,
            [.. built.Inputs, new ConditioningInput(inputName, values, [Dimension])]);
    }
}
