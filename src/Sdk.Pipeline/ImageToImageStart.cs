using System.Globalization;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Pipeline;

/// <summary>
/// Where image to image enters the schedule, decided once for every pipeline, as the reference's image-to-image
/// pipelines decide it: <c>init = min(int(steps · strength), steps)</c>, <c>t_start = max(steps − init, 0)</c>, and the
/// run starts at timestep index <c>t_start · order</c> (a two-stage sampler then starts at the first call of a step).
/// </summary>
public static class ImageToImageStart
{
    /// <summary>Checks the strength and the sampler, sets the sampler's begin index and returns it.</summary>
    /// <param name="sampler">The sampler, its timesteps already set for <paramref name="steps"/>.</param>
    /// <param name="steps">The requested inference steps.</param>
    /// <param name="strength">How much of the schedule runs, in (0, 1].</param>
    /// <param name="imageProperty">The request property that holds the start image, for messages.</param>
    /// <exception cref="SamplingOptionException">The strength is outside (0, 1], or the sampler chooses its own steps.</exception>
    public static int Apply(ISampler sampler, int steps, double strength, string imageProperty)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        if (!(strength > 0 && strength <= 1))
            throw new SamplingOptionException("Strength", strength.ToString("R", CultureInfo.InvariantCulture), "a number in (0, 1]");
        if (sampler is IAdaptiveSampler)
            throw new SamplingOptionException(imageProperty, "a start image",
                $"null: the '{sampler.Name}' sampler chooses its own steps, so it has no schedule to start part-way into; use a fixed-schedule sampler for image-to-image");
        var tStart = Math.Max(steps - Math.Min((int)(steps * strength), steps), 0);
        var startIndex = Math.Min(tStart * sampler.Order, sampler.Timesteps.Count - 1);
        sampler.SetBeginIndex(startIndex);
        return startIndex;
    }
}
