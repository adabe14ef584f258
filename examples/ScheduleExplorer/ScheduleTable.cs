using System.Globalization;
using System.Text;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Training;

namespace ScheduleExplorer;

/// <summary>
/// The derived quantities of each schedule at chosen timesteps, as CSV (full precision) and as a markdown table
/// (four significant digits). Every value is read from <see cref="NoiseSchedule"/> or <see cref="LossWeighting"/>.
/// </summary>
public static class ScheduleTable
{
    /// <summary>The CSV header, in column order.</summary>
    public static IReadOnlyList<string> Columns { get; } =
    [
        "schedule", "t", "beta", "alpha", "alpha_bar", "sqrt_alpha_bar", "sqrt_one_minus_alpha_bar",
        "snr", "log_snr", "sigma", "posterior_variance", "w_vlb", "w_min_snr_5", "w_p2",
    ];

    private static readonly LossWeighting MinSnr5 = LossWeighting.MinSnr(5);
    private static readonly LossWeighting P2 = LossWeighting.P2();

    /// <summary>One row per schedule and timestep, the columns of <see cref="Columns"/> after the first two.</summary>
    public static IEnumerable<(string Schedule, int Timestep, double[] Values)> Rows(IReadOnlyList<NamedSchedule> schedules, IReadOnlyList<int> timesteps)
    {
        ArgumentNullException.ThrowIfNull(schedules);
        ArgumentNullException.ThrowIfNull(timesteps);
        foreach (var named in schedules)
        {
            var s = named.Schedule;
            foreach (var t in timesteps)
            {
                if (t < 0 || t >= s.NumTrainTimesteps)
                    throw new ArgumentOutOfRangeException(nameof(timesteps), t, $"Timesteps must lie in 0 … {s.NumTrainTimesteps - 1}.");
                yield return (named.Label, t,
                [
                    s.Betas[t], s.Alphas[t], s.AlphasCumprod[t], s.SqrtAlphasCumprod[t], s.SqrtOneMinusAlphasCumprod[t],
                    s.Snr[t], s.LogSnr[t], s.Sigmas[t], s.PosteriorVariance[t],
                    LossWeighting.VariationalBound.Weight(s, t), MinSnr5.Weight(s, t), P2.Weight(s, t),
                ]);
            }
        }
    }

    /// <summary>The table as CSV: a header line, then one line per row; infinities are written <c>inf</c> / <c>-inf</c>.</summary>
    public static string ToCsv(IReadOnlyList<NamedSchedule> schedules, IReadOnlyList<int> timesteps)
    {
        var text = new StringBuilder();
        text.AppendLine(string.Join(',', Columns));
        foreach (var (schedule, t, values) in Rows(schedules, timesteps))
        {
            text.Append(Quote(schedule)).Append(',').Append(t.ToString(CultureInfo.InvariantCulture));
            foreach (var v in values) text.Append(',').Append(Format(v, "R"));
            text.AppendLine();
        }
        return text.ToString();
    }

    /// <summary>The table as markdown with four significant digits.</summary>
    public static string ToMarkdown(IReadOnlyList<NamedSchedule> schedules, IReadOnlyList<int> timesteps)
    {
        var text = new StringBuilder();
        text.AppendLine("| " + string.Join(" | ", Columns) + " |");
        text.AppendLine("|" + string.Concat(Enumerable.Repeat(" --- |", Columns.Count)));
        foreach (var (schedule, t, values) in Rows(schedules, timesteps))
            text.AppendLine($"| {schedule} | {t.ToString(CultureInfo.InvariantCulture)} | " + string.Join(" | ", values.Select(v => Format(v, "G4"))) + " |");
        return text.ToString();
    }

    private static string Format(double value, string format) => value switch
    {
        double.PositiveInfinity => "inf",
        double.NegativeInfinity => "-inf",
        double.NaN => "nan",
        _ => value.ToString(format, CultureInfo.InvariantCulture),
    };

    private static string Quote(string field) => field.Contains(',') || field.Contains('"') ? $"\"{field.Replace("\"", "\"\"")}\"" : field;
}
