namespace Diffusion.Sdk.Abstractions;

/// <summary>The snake_case spellings that <c>scheduler_config.json</c> uses for the SDK's enumerations.</summary>
public static class ConfigNames
{
    private static readonly (BetaSchedule Value, string Name)[] BetaSchedules =
    [
        (BetaSchedule.Linear, "linear"), (BetaSchedule.ScaledLinear, "scaled_linear"),
        (BetaSchedule.SquaredCosCapV2, "squaredcos_cap_v2"), (BetaSchedule.Sigmoid, "sigmoid"),
        (BetaSchedule.Quadratic, "quadratic"), (BetaSchedule.Exponential, "exponential"),
    ];

    private static readonly (PredictionType Value, string Name)[] PredictionTypes =
        [(PredictionType.Epsilon, "epsilon"), (PredictionType.Sample, "sample"), (PredictionType.VPrediction, "v_prediction"), (PredictionType.FlowPrediction, "flow_prediction")];

    private static readonly (TimestepSpacing Value, string Name)[] Spacings =
        [(TimestepSpacing.Linspace, "linspace"), (TimestepSpacing.Leading, "leading"), (TimestepSpacing.Trailing, "trailing")];

    private static readonly (VarianceType Value, string Name)[] VarianceTypes =
    [
        (VarianceType.FixedSmall, "fixed_small"), (VarianceType.FixedSmallLog, "fixed_small_log"),
        (VarianceType.FixedLarge, "fixed_large"), (VarianceType.FixedLargeLog, "fixed_large_log"),
        (VarianceType.Learned, "learned"), (VarianceType.LearnedRange, "learned_range"),
    ];

    /// <summary>The file spelling of a beta schedule.</summary>
    public static string Of(BetaSchedule value) => Lookup(BetaSchedules, value);

    /// <summary>The file spelling of a prediction type.</summary>
    public static string Of(PredictionType value) => Lookup(PredictionTypes, value);

    /// <summary>The file spelling of a timestep spacing.</summary>
    public static string Of(TimestepSpacing value) => Lookup(Spacings, value);

    /// <summary>The file spelling of a variance type.</summary>
    public static string Of(VarianceType value) => Lookup(VarianceTypes, value);

    /// <summary>Parses a beta schedule name, or throws <see cref="SchedulerConfigException"/> for <paramref name="key"/>.</summary>
    public static BetaSchedule ParseBetaSchedule(string text, string key = "beta_schedule", string? source = null) => Parse(BetaSchedules, text, key, source);

    /// <summary>Parses a prediction type name, or throws <see cref="SchedulerConfigException"/> for <paramref name="key"/>.</summary>
    public static PredictionType ParsePredictionType(string text, string key = "prediction_type", string? source = null) => Parse(PredictionTypes, text, key, source);

    /// <summary>Parses a timestep spacing name, or throws <see cref="SchedulerConfigException"/> for <paramref name="key"/>.</summary>
    public static TimestepSpacing ParseTimestepSpacing(string text, string key = "timestep_spacing", string? source = null) => Parse(Spacings, text, key, source);

    /// <summary>Parses a variance type name, or throws <see cref="SchedulerConfigException"/> for <paramref name="key"/>.</summary>
    public static VarianceType ParseVarianceType(string text, string key = "variance_type", string? source = null) => Parse(VarianceTypes, text, key, source);

    /// <summary>
    /// Checks that <paramref name="value"/> is one of <paramref name="allowed"/> (for sampler-specific string keys such as
    /// <c>algorithm_type</c>), or throws <see cref="SchedulerConfigException"/> naming the key.
    /// </summary>
    public static string RequireOneOf(string key, string value, params string[] allowed)
    {
        if (Array.IndexOf(allowed, value) >= 0) return value;
        throw new SchedulerConfigException(key, Quote(value), OneOf(allowed));
    }

    /// <summary>"one of "a", "b"" for error messages.</summary>
    public static string OneOf(IEnumerable<string> names) => "one of " + string.Join(", ", names.Select(Quote));

    /// <summary>The text in double quotes, as JSON shows a string.</summary>
    public static string Quote(string text) => "\"" + text + "\"";

    private static string Lookup<T>((T Value, string Name)[] table, T value) where T : struct, Enum
    {
        foreach (var (v, name) in table)
            if (EqualityComparer<T>.Default.Equals(v, value)) return name;
        throw new ArgumentOutOfRangeException(nameof(value), value, $"Not a defined {typeof(T).Name}.");
    }

    private static T Parse<T>((T Value, string Name)[] table, string text, string key, string? source) where T : struct, Enum
    {
        foreach (var (v, name) in table)
            if (name == text) return v;
        throw new SchedulerConfigException(key, Quote(text), OneOf(table.Select(e => e.Name)), source);
    }
}
