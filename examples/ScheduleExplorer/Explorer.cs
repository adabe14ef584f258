using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace ScheduleExplorer;

/// <summary>What the explorer draws and tabulates, and where it writes.</summary>
public sealed record ExplorerOptions
{
    /// <summary>Folder for schedules.png, schedules.svg, schedules.csv and schedules.md (created if missing).</summary>
    public string OutputDirectory { get; init; } = Path.Combine("out", "schedules");

    /// <summary>Schedule names from <see cref="ScheduleCatalog.Names"/>.</summary>
    public IReadOnlyList<string> Schedules { get; init; } = ScheduleCatalog.Names;

    /// <summary>Also draw each schedule re-spaced with Karras sigmas.</summary>
    public bool Karras { get; init; }

    /// <summary>Also draw each schedule rescaled to zero terminal SNR.</summary>
    public bool ZeroTerminalSnr { get; init; }

    /// <summary>The timesteps of the table; null: <see cref="DefaultTimesteps"/> of <see cref="NumTrainTimesteps"/>.</summary>
    public IReadOnlyList<int>? Timesteps { get; init; }

    /// <summary>T, the number of training timesteps.</summary>
    public int NumTrainTimesteps { get; init; } = 1000;

    /// <summary>β_start for every interpolating schedule, in place of each one's default; null keeps the defaults.</summary>
    public double? BetaStart { get; init; }

    /// <summary>β_end for every interpolating schedule, in place of each one's default; null keeps the defaults.</summary>
    public double? BetaEnd { get; init; }

    /// <summary>Figure width in pixels.</summary>
    public int Width { get; init; } = ScheduleFigure.DefaultWidth;

    /// <summary>Figure height in pixels.</summary>
    public int Height { get; init; } = ScheduleFigure.DefaultHeight;

    /// <summary>0, T/100, T/10, T/2 and T−1 (0, 10, 100, 500, 999 for T = 1000), without repeats.</summary>
    public static IReadOnlyList<int> DefaultTimesteps(int numTrainTimesteps) =>
        new[] { 0, numTrainTimesteps / 100, numTrainTimesteps / 10, numTrainTimesteps / 2, numTrainTimesteps - 1 }.Distinct().Order().ToList();
}

/// <summary>The files one explorer run wrote.</summary>
public sealed record ExplorerOutput(string Png, string Svg, string Csv, string Markdown);

/// <summary>Builds the schedules of <see cref="ExplorerOptions"/> and writes the figure and the tables.</summary>
public static class Explorer
{
    /// <summary>Writes schedules.png, schedules.svg, schedules.csv and schedules.md into the output folder.</summary>
    public static ExplorerOutput Run(ExplorerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.NumTrainTimesteps, 2);
        var schedules = ScheduleCatalog.Build(options.Schedules, options.NumTrainTimesteps, options.Karras, options.ZeroTerminalSnr, options.BetaStart, options.BetaEnd);
        Directory.CreateDirectory(options.OutputDirectory);
        var output = new ExplorerOutput(
            Path.Combine(options.OutputDirectory, "schedules.png"),
            Path.Combine(options.OutputDirectory, "schedules.svg"),
            Path.Combine(options.OutputDirectory, "schedules.csv"),
            Path.Combine(options.OutputDirectory, "schedules.md"));
        // Tables first: they validate the timesteps before any drawing.
        var timesteps = options.Timesteps ?? ExplorerOptions.DefaultTimesteps(options.NumTrainTimesteps);
        File.WriteAllText(output.Csv, ScheduleTable.ToCsv(schedules, timesteps));
        File.WriteAllText(output.Markdown, ScheduleTable.ToMarkdown(schedules, timesteps));
        ScheduleFigure.SavePng(schedules, output.Png, options.Width, options.Height);
        ScheduleFigure.SaveSvg(schedules, output.Svg, options.Width, options.Height);
        return output;
    }

    /// <summary>The round-trip error table of the 1000-step linear schedule (docs/numerics.md), in markdown.</summary>
    public static string NumericsMarkdown() =>
        RoundTripErrors.ToMarkdown(RoundTripErrors.Table(ScheduleCatalog.Create("linear", 1000)));
}
