using System.Globalization;
using System.Text;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Training;

namespace ScheduleExplorer;

/// <summary>The worst round-trip error over a range of timesteps, for the SDK's closed form and for the division-based form.</summary>
/// <param name="First">First timestep of the range.</param>
/// <param name="Last">Last timestep of the range (inclusive).</param>
/// <param name="ClosedForm">Max error of ε → v → ε with ε = √ᾱ·v + √(1−ᾱ)·x_t.</param>
/// <param name="ClosedFormWorstTimestep">Where in the range the closed form's error is largest.</param>
/// <param name="Division">Max error of ε → v → x_0 → ε with ε = (x_t − √ᾱ·x_0)/√(1−ᾱ).</param>
/// <param name="DivisionWorstTimestep">Where in the range the division form's error is largest.</param>
public sealed record RoundTripErrorRow(int First, int Last, double ClosedForm, int ClosedFormWorstTimestep, double Division, int DivisionWorstTimestep);

/// <summary>
/// Measures the float32 error of the velocity/noise round trip ε → v → ε over the timesteps of a schedule, two ways:
/// the SDK's closed form (<see cref="PredictionMath.EpsilonToVelocity"/>, then <see cref="PredictionMath.ToEpsilon"/> of
/// the v-prediction: ε = α·v + σ·x_t) and the division-based form (x_0 = α·x_t − σ·v, then ε = (x_t − α·x_0)/σ), with
/// α = √ᾱ_t and σ = √(1 − ᾱ_t).
/// </summary>
/// <remarks>
/// For each t: x_0 and ε are <see cref="SampleCount"/> standard-normal draws (seeded <see cref="TorchGaussianNoise"/>),
/// x_t = α·x_0 + σ·ε is formed in float32 (<see cref="ForwardProcess.QSample"/>), v = (ε − σ·x_t)/α in float32, and ε is
/// recovered both ways in float32. The error at t is max_i |ε̂_i − ε_i| / rms(ε), computed in double: the worst
/// element's error relative to the noise's scale (ε has unit variance, so this is close to the absolute error).
/// </remarks>
public static class RoundTripErrors
{
    /// <summary>Elements drawn per timestep.</summary>
    public const int SampleCount = 4096;

    /// <summary>The timestep ranges of the published table (inclusive).</summary>
    public static IReadOnlyList<(int First, int Last)> DefaultRanges { get; } = [(0, 20), (21, 100), (101, 500), (501, 999)];

    /// <summary>The error of both forms at every timestep of <paramref name="schedule"/>.</summary>
    public static (double[] ClosedForm, double[] Division) Measure(NoiseSchedule schedule, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        var n = schedule.NumTrainTimesteps;
        var closed = new double[n];
        var division = new double[n];
        var noise = new TorchGaussianNoise(seed);
        float[] x0 = new float[SampleCount], eps = new float[SampleCount], xt = new float[SampleCount],
            v = new float[SampleCount], recovered = new float[SampleCount], sample0 = new float[SampleCount];
        for (var t = 0; t < n; t++)
        {
            noise.NextGaussian(x0);
            noise.NextGaussian(eps);
            double alpha = schedule.SqrtAlphasCumprod[t], sigma = schedule.SqrtOneMinusAlphasCumprod[t];
            ForwardProcess.QSample(schedule, t, x0, eps, xt);
            PredictionMath.EpsilonToVelocity(eps, xt, alpha, sigma, v);

            // The SDK's form: ε = α·v + σ·x_t.
            PredictionMath.ToEpsilon(PredictionType.VPrediction, v, xt, alpha, sigma, recovered);
            closed[t] = RelativeMaxError(recovered, eps);

            // The division-based form: x_0 = α·x_t − σ·v, then ε = (x_t − α·x_0)/σ.
            PredictionMath.ToSample(PredictionType.VPrediction, v, xt, alpha, sigma, sample0);
            PredictionMath.ToEpsilon(PredictionType.Sample, sample0, xt, alpha, sigma, recovered);
            division[t] = RelativeMaxError(recovered, eps);
        }
        return (closed, division);
    }

    /// <summary>The worst error of each form in each timestep range.</summary>
    public static IReadOnlyList<RoundTripErrorRow> Table(NoiseSchedule schedule, IReadOnlyList<(int First, int Last)>? ranges = null, ulong seed = 0)
    {
        var (closed, division) = Measure(schedule, seed);
        var rows = new List<RoundTripErrorRow>();
        foreach (var (first, last) in ranges ?? DefaultRanges)
        {
            if (first < 0 || last >= schedule.NumTrainTimesteps || first > last) throw new ArgumentOutOfRangeException(nameof(ranges), $"Range {first}–{last} is outside the schedule.");
            var (closedMax, closedAt) = MaxIn(closed, first, last);
            var (divisionMax, divisionAt) = MaxIn(division, first, last);
            rows.Add(new RoundTripErrorRow(first, last, closedMax, closedAt, divisionMax, divisionAt));
        }
        return rows;
    }

    /// <summary>The table in markdown.</summary>
    public static string ToMarkdown(IReadOnlyList<RoundTripErrorRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var text = new StringBuilder();
        text.AppendLine("| t range | closed form ε = √ᾱ·v + √(1−ᾱ)·x_t | worst t | division ε = (x_t − √ᾱ·x₀)/√(1−ᾱ) | worst t | division / closed |");
        text.AppendLine("| --- | --- | --- | --- | --- | --- |");
        foreach (var r in rows)
            text.AppendLine(FormattableString.Invariant(
                $"| {r.First}–{r.Last} | {r.ClosedForm:0.00e+00} | {r.ClosedFormWorstTimestep} | {r.Division:0.00e+00} | {r.DivisionWorstTimestep} | {(r.ClosedForm > 0 ? (r.Division / r.ClosedForm).ToString("0.#", CultureInfo.InvariantCulture) : "∞")} |"));
        return text.ToString();
    }

    private static double RelativeMaxError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        double worst = 0, sumSq = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs((double)actual[i] - expected[i]));
            sumSq += (double)expected[i] * expected[i];
        }
        return worst / Math.Sqrt(sumSq / expected.Length);
    }

    private static (double Max, int At) MaxIn(double[] values, int first, int last)
    {
        var at = first;
        for (var t = first; t <= last; t++) if (values[t] > values[at]) at = t;
        return (values[at], at);
    }
}
