using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// The conditioning stage of a model family: turns a request's prompts (and whatever else the family reads from the
/// request, such as SDXL's micro-conditioning) into the UNet's <see cref="ModelConditioning"/> for the whole run, the
/// unconditional rows of guidance included. It runs once per run, before the loop; the loop only selects rows.
/// </summary>
public interface IConditioner
{
    /// <summary>Builds the run's conditioning.</summary>
    /// <param name="context">The request and what the pipeline resolved from it.</param>
    /// <param name="cancellationToken">Checked between text-encoder calls.</param>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    ModelConditioning Build(ConditioningContext context, CancellationToken cancellationToken);

    /// <summary>
    /// Checks the request before any work starts (the pipeline calls it while preparing the run), so that a request
    /// the conditioner cannot serve fails at once with a typed error rather than after other stages ran. Runs no model.
    /// The default accepts every request.
    /// </summary>
    /// <param name="context">The request and what the pipeline resolved from it.</param>
    void Check(ConditioningContext context) { }
}

/// <summary>What a conditioner is given: the request and the values the pipeline resolved from it.</summary>
/// <param name="Request">The request.</param>
/// <param name="Prompts">The prompts, one per group of <paramref name="ImagesPerPrompt"/> batch items.</param>
/// <param name="ImagesPerPrompt">Batch items per prompt.</param>
/// <param name="Guided">Whether classifier-free guidance runs (the conditioning must then hold unconditional rows first).</param>
/// <param name="Width">Image width in pixels.</param>
/// <param name="Height">Image height in pixels.</param>
public sealed record ConditioningContext(StableDiffusionRequest Request, IReadOnlyList<string> Prompts, int ImagesPerPrompt, bool Guided, int Width, int Height)
{
    /// <summary>Batch items: prompts × images per prompt.</summary>
    public int Batch => Prompts.Count * ImagesPerPrompt;
}
