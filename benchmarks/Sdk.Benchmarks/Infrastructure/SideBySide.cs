using System.Diagnostics;

namespace Diffusion.Benchmarks.Infrastructure;

/// <summary>
/// Timing two things side by side in one run, as every overhead suite does: rounds alternate which goes first, so a
/// drift in the machine's load falls on both, and results are medians and quartiles of per-round values.
/// </summary>
internal static class SideBySide
{
    /// <summary>The wall-clock milliseconds of one call.</summary>
    public static double Time(Action action)
    {
        var start = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    /// <summary>Runs <paramref name="first"/> and <paramref name="second"/> <paramref name="rounds"/> times each, alternating which starts a round.</summary>
    public static (List<double> First, List<double> Second) Alternate(int rounds, Action first, Action second)
    {
        var firstTimes = new List<double>(rounds);
        var secondTimes = new List<double>(rounds);
        for (var r = 0; r < rounds; r++)
        {
            if (r % 2 == 0)
            {
                firstTimes.Add(Time(first));
                secondTimes.Add(Time(second));
            }
            else
            {
                secondTimes.Add(Time(second));
                firstTimes.Add(Time(first));
            }
        }
        return (firstTimes, secondTimes);
    }

    /// <summary>The <paramref name="q"/>-quantile (linear interpolation between order statistics), rounded to 4 decimals for the report.</summary>
    public static double Quantile(IReadOnlyList<double> values, double q)
    {
        var sorted = values.Order().ToArray();
        var position = q * (sorted.Length - 1);
        var low = (int)Math.Floor(position);
        var high = Math.Min(low + 1, sorted.Length - 1);
        return Math.Round(sorted[low] + (position - low) * (sorted[high] - sorted[low]), 4);
    }
}
