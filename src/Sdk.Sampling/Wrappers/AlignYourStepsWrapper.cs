using System.Globalization;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// Runs a sampler on an Align Your Steps schedule (<see cref="AlignYourSteps"/>): a step count becomes the published
/// list of the chosen model (interpolated to that count), passed to the sampler as explicit noise levels
/// (<see cref="ISigmaSampler.SetSigmas"/>, ending in 0) or as explicit timesteps. The same list given to the sampler by
/// hand gives the same run.
/// </summary>
public sealed class AlignYourStepsWrapper : SamplerDecorator
{
    /// <summary>Wraps <paramref name="inner"/>; <paramref name="spacing"/> says whether it receives σ or timesteps.</summary>
    /// <exception cref="SamplingOptionException">The sampler cannot take the list in the form asked for (before any work).</exception>
    public AlignYourStepsWrapper(ISampler inner, AlignYourStepsModel model, StepSpacing spacing = StepSpacing.AlignYourSteps) : base(inner)
    {
        Model = Enum.IsDefined(model) ? model : throw new ArgumentOutOfRangeException(nameof(model), model, "an AlignYourStepsModel");
        var innermost = Unwrap(inner);
        var takesSigmas = inner is ISigmaSampler;
        var takesTimesteps = innermost is not SamplerBase { AcceptsExplicitTimesteps: false };
        if (innermost is IFlowMatchingSampler || innermost is IAdaptiveSampler)
            throw Refused(spacing, innermost is IFlowMatchingSampler
                ? "its noise levels are flow σ in [0, 1], and the published schedules are for variance-preserving models"
                : "it chooses its own steps");
        UsesSigmas = spacing switch
        {
            StepSpacing.AlignYourStepsSigmas => takesSigmas ? true : throw Refused(spacing, "it takes no explicit noise levels (it is not an ISigmaSampler)"),
            StepSpacing.AlignYourStepsTimesteps => takesTimesteps ? false : throw Refused(spacing, "it cannot run on an explicit timestep list"),
            StepSpacing.AlignYourSteps => takesSigmas || (takesTimesteps ? false : throw Refused(spacing, "it takes neither explicit noise levels nor explicit timesteps")),
            _ => throw new ArgumentOutOfRangeException(nameof(spacing), spacing, "an Align Your Steps spacing"),
        };
        if (!UsesSigmas && AlignYourSteps.PublishedTimesteps(model) is null)
            throw new SamplingOptionException(nameof(SamplingOptions.Spacing), spacing.ToString(),
                $"{StepSpacing.AlignYourStepsSigmas} with a sampler that takes noise levels: the {model} schedule was published as σ only, and '{inner.Name}' " +
                (takesSigmas ? "was asked for timesteps" : "takes timesteps only"));
        Spacing = spacing;
    }

    /// <summary>Whose published schedule the run follows.</summary>
    public AlignYourStepsModel Model { get; }

    /// <summary>The spacing asked for.</summary>
    public StepSpacing Spacing { get; }

    /// <summary>True: the sampler receives the σ list; false: the timestep list.</summary>
    public bool UsesSigmas { get; }

    /// <inheritdoc/>
    public override void SetTimesteps(int numInferenceSteps)
    {
        if (numInferenceSteps < 1 || numInferenceSteps > Schedule.NumTrainTimesteps)
            throw new SchedulerConfigException("num_inference_steps", numInferenceSteps.ToString(CultureInfo.InvariantCulture),
                $"an integer from 1 to num_train_timesteps = {Schedule.NumTrainTimesteps}");
        try
        {
            if (UsesSigmas) ((ISigmaSampler)Inner).SetSigmas(AlignYourSteps.Sigmas(Model, numInferenceSteps));
            else Inner.SetTimesteps(AlignYourSteps.Timesteps(Model, numInferenceSteps, Schedule));
        }
        catch (NotSupportedException e)
        {
            throw new SamplingOptionException(nameof(SamplingOptions.Spacing), Spacing.ToString(),
                $"unset (the sampler's own spacing) for the '{Inner.Name}' sampler: {e.Message}");
        }
    }

    private SamplingOptionException Refused(StepSpacing spacing, string why) =>
        new(nameof(SamplingOptions.Spacing), spacing.ToString(), $"unset (the sampler's own spacing) for the '{Inner.Name}' sampler: {why}");
}
