using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// Inference timesteps, descending, for the three spacings of "Common Diffusion Noise Schedules and Sample Steps are
/// Flawed" (Lin et al. 2023, table 2). Rounding is half-to-even, as the reference's numpy rounding is.
/// </summary>
public static class TimestepSpacings
{
    /// <summary>The integer timesteps of <paramref name="spacing"/> for <paramref name="numInferenceSteps"/> steps.</summary>
    /// <param name="spacing">The spacing kind.</param>
    /// <param name="numTrainTimesteps">T, the number of training timesteps.</param>
    /// <param name="numInferenceSteps">n, from 1 to T.</param>
    /// <param name="stepsOffset">Added to every <c>leading</c> timestep (the reference ignores it for the other two).</param>
    public static double[] Create(TimestepSpacing spacing, int numTrainTimesteps, int numInferenceSteps, int stepsOffset = 0)
    {
        SchedulerConfigValidation.ValidateInferenceSteps(numInferenceSteps, numTrainTimesteps);
        return spacing switch
        {
            TimestepSpacing.Leading => Leading(numTrainTimesteps, numInferenceSteps, stepsOffset),
            TimestepSpacing.Trailing => Trailing(numTrainTimesteps, numInferenceSteps),
            TimestepSpacing.Linspace => Linspace(numTrainTimesteps, numInferenceSteps),
            _ => throw new ArgumentOutOfRangeException(nameof(spacing), spacing, "Not a defined timestep spacing."),
        };
    }

    /// <summary><c>leading</c>: k·(T // n) + offset for k = n−1 … 0.</summary>
    public static double[] Leading(int numTrainTimesteps, int numInferenceSteps, int stepsOffset)
    {
        var ratio = numTrainTimesteps / numInferenceSteps;
        var result = new double[numInferenceSteps];
        for (var i = 0; i < numInferenceSteps; i++) result[i] = (numInferenceSteps - 1 - i) * ratio + stepsOffset;
        return result;
    }

    /// <summary><c>trailing</c>: round(T − k·T/n) − 1 for k = 0 … n−1, so the first step is always T−1.</summary>
    public static double[] Trailing(int numTrainTimesteps, int numInferenceSteps)
    {
        var ratio = (double)numTrainTimesteps / numInferenceSteps;
        var result = new double[numInferenceSteps];
        for (var k = 0; k < numInferenceSteps; k++) result[k] = Math.Round(numTrainTimesteps - k * ratio) - 1;
        return result;
    }

    /// <summary><c>linspace</c>: round of n evenly spaced points from T−1 down to 0.</summary>
    public static double[] Linspace(int numTrainTimesteps, int numInferenceSteps)
    {
        var points = Linspace(0, numTrainTimesteps - 1, numInferenceSteps);
        var result = new double[numInferenceSteps];
        for (var i = 0; i < numInferenceSteps; i++) result[i] = Math.Round(points[numInferenceSteps - 1 - i]);
        return result;
    }

    /// <summary>n evenly spaced points from <paramref name="start"/> to <paramref name="stop"/> inclusive, computed as numpy does (start + k·step, last point exact).</summary>
    public static double[] Linspace(double start, double stop, int count)
    {
        var result = new double[count];
        if (count == 1)
        {
            result[0] = start;
            return result;
        }
        var step = (stop - start) / (count - 1);
        for (var k = 0; k < count; k++) result[k] = start + k * step;
        result[count - 1] = stop;
        return result;
    }
}
