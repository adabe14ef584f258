using Diffusion.Configuration;

namespace Diffusion.Pipeline;

/// <summary>Combines a model's shipped scheduler configuration with a request's sampling options (every pipeline uses it).</summary>
public static class ModelSamplingOptions
{
    /// <summary>
    /// The options a run uses: when the model ships a scheduler configuration (and the request names no
    /// <see cref="SamplingOptions.BaseConfig"/>), that configuration defines the schedule and prediction type, the
    /// request's sampler name (or, when it is null, the configuration's own class) picks the method, and the request
    /// supplies steps, guidance and wrappers.
    /// </summary>
    /// <param name="shipped">The model's <c>scheduler_config.json</c>, or null.</param>
    /// <param name="requested">The request's options; not changed.</param>
    /// <param name="schedulerType">The sampler to use instead of <see cref="SamplingOptions.SchedulerType"/>; null: the request's, or the shipped class when the request's is null too.</param>
    /// <exception cref="SchedulerConfigException">A field is invalid.</exception>
    public static SamplingOptions Resolve(SchedulerConfig? shipped, SamplingOptions requested, string? schedulerType = null)
    {
        ArgumentNullException.ThrowIfNull(requested);
        requested.Validate();
        if (shipped is null || requested.BaseConfig is not null)
        {
            if (schedulerType is null) return requested;
            var copy = requested.Clone();
            copy.SchedulerType = schedulerType;
            return copy;
        }
        // The model's own scheduler configuration defines the schedule; the request picks sampler, steps and wrappers.
        var options = SamplingOptions.FromSchedulerConfig(shipped, schedulerType ?? requested.SchedulerType);
        options.NumInferenceSteps = requested.NumInferenceSteps;
        options.GuidanceScale = requested.GuidanceScale;
        options.GuidanceRescale = requested.GuidanceRescale;
        options.Temperature = requested.Temperature;
        options.NoiseInjection = requested.NoiseInjection;
        options.UseKarrasSigmas = requested.UseKarrasSigmas;
        options.Thresholding = requested.Thresholding;
        options.DynamicThresholdingRatio = requested.DynamicThresholdingRatio;
        options.SampleMaxValue = requested.SampleMaxValue;
        options.Eta = requested.Eta;
        options.ClipSample = requested.ClipSample ?? options.ClipSample;
        options.AlgorithmType = requested.AlgorithmType ?? options.AlgorithmType;
        options.SolverType = requested.SolverType ?? options.SolverType;
        options.BaseConfig!.TimestepSpacing ??= shipped.TimestepSpacing;
        return options;
    }
}
