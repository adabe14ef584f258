using Diffusion.Sdk.Sampling;
using System.Globalization;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Samplers.Lcm;

/// <summary>
/// The timesteps of the consistency-distilled samplers (LCM and TCD): the distillation ran on a schedule of
/// <c>original_inference_steps</c> evenly spaced training timesteps k·i − 1 (i = 1 … N', k = T // N'), so inference
/// picks its n timesteps among those, at evenly spaced positions from the top (index ⌊j·N'/n⌋, j = 0 … n−1). The
/// configuration's <c>timestep_spacing</c> and <c>steps_offset</c> play no part, as in the reference.
/// </summary>
internal static class ConsistencyTimesteps
{
    /// <summary>The distillation schedule's length when the configuration does not give one (the reference's default).</summary>
    public const int DefaultOriginalSteps = 50;

    /// <summary>The configured <c>original_inference_steps</c>, checked against the training schedule.</summary>
    public static int OriginalSteps(SchedulerConfig config)
    {
        var original = config.OriginalInferenceSteps ?? DefaultOriginalSteps;
        if (original < 1 || original > config.NumTrainTimesteps)
            throw new SchedulerConfigException("original_inference_steps", original.ToString(CultureInfo.InvariantCulture),
                $"an integer in [1, num_train_timesteps = {config.NumTrainTimesteps}]");
        return original;
    }

    /// <summary>n timesteps of the distillation schedule, descending.</summary>
    public static double[] Create(int numTrainTimesteps, int originalSteps, int numInferenceSteps)
    {
        if (numInferenceSteps > originalSteps)
            throw new SchedulerConfigException("num_inference_steps", numInferenceSteps.ToString(CultureInfo.InvariantCulture),
                $"at most original_inference_steps = {originalSteps}: the steps are chosen among the distillation schedule's (raise original_inference_steps for more)");
        var k = numTrainTimesteps / originalSteps;
        // numpy's linspace(0, N', n, endpoint=False) is j·(N'/n); its floor picks the position from the top.
        var stride = (double)originalSteps / numInferenceSteps;
        var timesteps = new double[numInferenceSteps];
        for (var j = 0; j < numInferenceSteps; j++)
        {
            var fromTop = (int)Math.Floor(j * stride);
            timesteps[j] = (originalSteps - fromTop) * k - 1;
        }
        return timesteps;
    }
}
