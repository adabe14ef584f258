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

    /// <summary>
    /// n timesteps of the distillation schedule, descending. Image to image with the reference's LCM pipelines keeps
    /// only the schedule's first ⌊N'·strength⌋ timesteps (the least noisy ones) before choosing among them, so the
    /// strength shortens the schedule itself rather than slicing the chosen timesteps.
    /// </summary>
    public static double[] Create(int numTrainTimesteps, int originalSteps, int numInferenceSteps, double strength = 1.0)
    {
        if (numInferenceSteps > originalSteps)
            throw new SchedulerConfigException("num_inference_steps", numInferenceSteps.ToString(CultureInfo.InvariantCulture),
                $"at most original_inference_steps = {originalSteps}: the steps are chosen among the distillation schedule's (raise original_inference_steps for more)");
        if (!(strength > 0 && strength <= 1))
            throw new SchedulerConfigException("strength", strength.ToString("R", CultureInfo.InvariantCulture), "a number in (0, 1]");
        var k = numTrainTimesteps / originalSteps;
        // As the reference: int(N' · strength) in double arithmetic, then truncation.
        var count = (int)(originalSteps * strength);
        if (count < numInferenceSteps)
            throw new SchedulerConfigException("num_inference_steps", numInferenceSteps.ToString(CultureInfo.InvariantCulture),
                $"at most int(original_inference_steps · strength) = int({originalSteps} · {strength.ToString("R", CultureInfo.InvariantCulture)}) = {count}: the steps are chosen among that many timesteps of the distillation schedule (raise the strength or original_inference_steps, or take fewer steps)");
        // numpy's linspace(0, count, n, endpoint=False) is j·(count/n); its floor picks the position from the top.
        var stride = (double)count / numInferenceSteps;
        var timesteps = new double[numInferenceSteps];
        for (var j = 0; j < numInferenceSteps; j++)
        {
            var fromTop = (int)Math.Floor(j * stride);
            timesteps[j] = (count - fromTop) * k - 1;
        }
        return timesteps;
    }
}
