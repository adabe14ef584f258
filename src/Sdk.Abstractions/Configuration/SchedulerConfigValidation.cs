using System.Globalization;

namespace Diffusion.Sdk.Abstractions;

/// <summary>The value rules of <see cref="SchedulerConfig"/>, one check per key.</summary>
internal static class SchedulerConfigValidation
{
    /// <summary>The most training steps a schedule may have (the same bound as <see cref="SamplingOptions.NumTrainTimesteps"/>).</summary>
    public const int MaxTrainTimesteps = 100_000;

    public static void Validate(SchedulerConfig c, string? source)
    {
        // The upper bound keeps the schedule's tables (several doubles per training step) small; real models use 1000.
        if (c.NumTrainTimesteps is < 1 or > MaxTrainTimesteps)
            Fail("num_train_timesteps", c.NumTrainTimesteps, $"an integer from 1 to {MaxTrainTimesteps}", source);

        if (c.TrainedBetas is { } trained)
        {
            if (trained.Length != c.NumTrainTimesteps)
                throw new SchedulerConfigException("trained_betas", $"{trained.Length} values", $"exactly num_train_timesteps = {c.NumTrainTimesteps} values", source);
            for (var i = 0; i < trained.Length; i++)
                if (!(trained[i] > 0 && trained[i] < 1))
                    Fail($"trained_betas[{i}]", trained[i], "a number in (0, 1)", source);
        }
        else
        {
            RequireFinite("beta_start", c.BetaStart, source);
            RequireFinite("beta_end", c.BetaEnd, source);
            if (c.BetaSchedule != BetaSchedule.SquaredCosCapV2)
            {
                // The cosine schedule ignores beta_start/beta_end; every other kind interpolates between them.
                var lowest = c.BetaSchedule == BetaSchedule.Exponential ? "> 0" : ">= 0";
                if (c.BetaSchedule == BetaSchedule.Exponential ? c.BetaStart <= 0 : c.BetaStart < 0)
                    Fail("beta_start", c.BetaStart, $"a number {lowest} and below beta_end", source);
                if (!(c.BetaEnd > c.BetaStart))
                    Fail("beta_end", c.BetaEnd, $"a number above beta_start = {Format(c.BetaStart)} for the {ConfigNames.Of(c.BetaSchedule)} schedule", source);
                if (!(c.BetaEnd < 1))
                    Fail("beta_end", c.BetaEnd, "a number below 1 (a beta of 1 destroys the signal completely)", source);
            }
        }

        if (c.StepsOffset < 0) Fail("steps_offset", c.StepsOffset, "an integer >= 0", source);
        if (!(c.ClipSampleRange > 0) || !double.IsFinite(c.ClipSampleRange)) Fail("clip_sample_range", c.ClipSampleRange, "a finite number > 0", source);
        if (!(c.DynamicThresholdingRatio > 0 && c.DynamicThresholdingRatio <= 1)) Fail("dynamic_thresholding_ratio", c.DynamicThresholdingRatio, "a number in (0, 1]", source);
        if (!(c.SampleMaxValue > 0) || !double.IsFinite(c.SampleMaxValue)) Fail("sample_max_value", c.SampleMaxValue, "a finite number > 0", source);
        if (c.Eta is { } eta && (!(eta >= 0) || !double.IsFinite(eta))) Fail("eta", eta, "a finite number >= 0", source);
        // The largest order is the sampler's to say (DPM-Solver: 3; LMS: any, 4 by default).
        if (c.SolverOrder is { } order && order < 1) Fail("solver_order", order, "an integer >= 1", source);
        if (c.SigmaMin is { } smin && !(smin > 0)) Fail("sigma_min", smin, "a number > 0", source);
        if (c.SigmaMax is { } smax && !(smax > (c.SigmaMin ?? 0))) Fail("sigma_max", smax, "a number > sigma_min", source);
        if (c.LambdaMinClipped is { } lambda && double.IsNaN(lambda)) Fail("lambda_min_clipped", lambda, "a number or -Infinity", source);
        ValidateNewFamilies(c, source);
    }

    // The flow-matching, EDM, SA-Solver and churn keys (SchedulerConfig.NewFamilies.cs).
    private static void ValidateNewFamilies(SchedulerConfig c, string? source)
    {
        if (c.Shift is { } shift && !(shift > 0 && double.IsFinite(shift))) Fail("shift", shift, "a finite number > 0", source);
        if (c.FlowShift is { } flowShift && !(flowShift > 0 && double.IsFinite(flowShift))) Fail("flow_shift", flowShift, "a finite number > 0", source);
        if (c.TimeShiftType is { } type && type is not ("exponential" or "linear"))
            throw new SchedulerConfigException("time_shift_type", ConfigNames.Quote(type), ConfigNames.OneOf(["exponential", "linear"]), source);
        if (c.ShiftTerminal is { } terminal && !(terminal >= 0 && terminal < 1)) Fail("shift_terminal", terminal, "a number in [0, 1)", source);
        if (c.SigmaData is { } data && !(data > 0 && double.IsFinite(data))) Fail("sigma_data", data, "a finite number > 0", source);
        if (c.SigmaSchedule is { } schedule && schedule is not ("karras" or "exponential"))
            throw new SchedulerConfigException("sigma_schedule", ConfigNames.Quote(schedule), ConfigNames.OneOf(["karras", "exponential"]), source);
        if (c.Rho is { } rho && !(rho > 0 && double.IsFinite(rho))) Fail("rho", rho, "a finite number > 0", source);
        if (c.PredictorOrder is { } predictor && predictor is < 1 or > 4) Fail("predictor_order", predictor, "an integer from 1 to 4", source);
        if (c.CorrectorOrder is { } corrector && corrector is < 1 or > 4) Fail("corrector_order", corrector, "an integer from 1 to 4", source);
        if (c.SChurn is { } churn && !(churn >= 0 && double.IsFinite(churn))) Fail("s_churn", churn, "a finite number >= 0", source);
        if (c.STmin is { } tmin && !(tmin >= 0 && double.IsFinite(tmin))) Fail("s_tmin", tmin, "a finite number >= 0", source);
        if (c.STmax is { } tmax && !(tmax >= (c.STmin ?? 0))) Fail("s_tmax", tmax, "a number >= s_tmin (Infinity allowed)", source);
        if (c.SNoise is { } sNoise && !(sNoise >= 0 && double.IsFinite(sNoise))) Fail("s_noise", sNoise, "a finite number >= 0", source);
    }

    /// <summary>Checks a number of inference steps against the training range.</summary>
    public static void ValidateInferenceSteps(int numInferenceSteps, int numTrainTimesteps)
    {
        if (numInferenceSteps < 1 || numInferenceSteps > numTrainTimesteps)
            Fail("num_inference_steps", numInferenceSteps, $"an integer from 1 to num_train_timesteps = {numTrainTimesteps}", null);
    }

    private static void RequireFinite(string key, double value, string? source)
    {
        if (!double.IsFinite(value)) Fail(key, value, "a finite number", source);
    }

    private static void Fail(string key, double value, string allowed, string? source) =>
        throw new SchedulerConfigException(key, Format(value), allowed, source);

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
