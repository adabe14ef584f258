namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// The "ensemble of experts" timestep split of diffusers' SDXL pipelines: <c>denoising_end</c> stops the base early,
/// <c>denoising_start</c> starts the refiner where the base stopped. Both fractions become one cutoff timestep,
/// <c>int(round(N − d·N))</c> with N the training timesteps and Python's rounding (halves to even).
/// </summary>
internal static class DenoisingSplit
{
    /// <summary>The cutoff timestep of fraction <paramref name="fraction"/> of <paramref name="trainTimesteps"/>.</summary>
    public static double Cutoff(double fraction, int trainTimesteps) =>
        Math.Round(trainTimesteps - fraction * trainTimesteps, MidpointRounding.ToEven);

    /// <summary>
    /// The base's end (exclusive index into <paramref name="timesteps"/>): the reference keeps the first
    /// <c>count(t ≥ cutoff)</c> timesteps of those left after <paramref name="startIndex"/>.
    /// </summary>
    public static int EndIndex(IReadOnlyList<double> timesteps, int startIndex, double denoisingEnd, int trainTimesteps)
    {
        var cutoff = Cutoff(denoisingEnd, trainTimesteps);
        var kept = 0;
        for (var i = startIndex; i < timesteps.Count; i++)
            if (timesteps[i] >= cutoff) kept++;
        return startIndex + kept;
    }

    /// <summary>
    /// The refiner's start index: the last <c>count(t &lt; cutoff)</c> timesteps, one more for a second-order sampler
    /// when that count is even (so that it does not start between a step's two evaluations), as the reference's
    /// <c>get_timesteps</c>.
    /// </summary>
    public static int StartIndex(IReadOnlyList<double> timesteps, int order, double denoisingStart, int trainTimesteps)
    {
        var cutoff = Cutoff(denoisingStart, trainTimesteps);
        var count = timesteps.Count(t => t < cutoff);
        if (order == 2 && count % 2 == 0) count++;
        return Math.Max(timesteps.Count - count, 0);
    }
}
