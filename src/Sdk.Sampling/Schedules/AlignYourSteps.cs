using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The Align Your Steps schedules (Sabour, Fidler, Kreis: "Align Your Steps: Optimizing Sampling Schedules in
/// Diffusion Models", 2024): the 10-step lists NVIDIA published per model, and the paper's log-linear interpolation
/// of log σ over the normalized step position for other step counts.
/// </summary>
/// <remarks>
/// The σ lists hold 11 noise levels: the 10 steps' and the model's smallest σ at the end (0.029 for Stable
/// Diffusion's schedule, 0.002 for Stable Video Diffusion's), which anchors the interpolation (log 0 has no place
/// in it). A run ends at σ = 0 as the published usage does: the reference's <c>AysSchedules</c> lists end in 0.0, the
/// authors' own code sets the last interpolated σ to 0. At 10 steps the published values are used as they are (the
/// 3-decimal values of the authors' page, which the reference copies); the timestep lists are the integer training
/// timesteps the authors published for the 10 steps. At other counts the timesteps are those of the interpolated σ,
/// rounded to whole training steps.
/// </remarks>
public static class AlignYourSteps
{
    /// <summary>The step count the published lists were optimized for.</summary>
    public const int PublishedSteps = 10;

    private static readonly double[] StableDiffusionSigmas = [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029];
    private static readonly double[] StableDiffusionXLSigmas = [14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029];
    private static readonly double[] StableVideoDiffusionSigmas = [700.00, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002];
    private static readonly double[] StableDiffusionTimesteps = [999, 850, 736, 645, 545, 455, 343, 233, 124, 24];
    private static readonly double[] StableDiffusionXLTimesteps = [999, 845, 730, 587, 443, 310, 193, 116, 53, 13];

    /// <summary>The published 11 noise levels of <paramref name="model"/> (10 steps, then the model's smallest σ).</summary>
    public static IReadOnlyList<double> PublishedSigmas(AlignYourStepsModel model) => model switch
    {
        AlignYourStepsModel.StableDiffusion => StableDiffusionSigmas,
        AlignYourStepsModel.StableDiffusionXL => StableDiffusionXLSigmas,
        AlignYourStepsModel.StableVideoDiffusion => StableVideoDiffusionSigmas,
        _ => throw Unknown(model),
    };

    /// <summary>The published 10 timesteps of <paramref name="model"/>, or null where only σ were published (video).</summary>
    public static IReadOnlyList<double>? PublishedTimesteps(AlignYourStepsModel model) => model switch
    {
        AlignYourStepsModel.StableDiffusion => StableDiffusionTimesteps,
        AlignYourStepsModel.StableDiffusionXL => StableDiffusionXLTimesteps,
        AlignYourStepsModel.StableVideoDiffusion => null,
        _ => throw Unknown(model),
    };

    /// <summary>
    /// The noise levels of a run of <paramref name="steps"/> steps: the steps' σ, then the final σ = 0 (steps + 1 values).
    /// The published list at 10 steps, else its log-linear interpolation to steps + 1 points with the last set to 0.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="steps"/> is below 1.</exception>
    public static double[] Sigmas(AlignYourStepsModel model, int steps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        var published = PublishedSigmas(model);
        var sigmas = steps + 1 == published.Count ? published.ToArray() : LogLinearInterpolate(published, steps + 1);
        sigmas[^1] = 0;
        return sigmas;
    }

    /// <summary>
    /// The training timesteps of a run of <paramref name="steps"/> steps, strictly descending: the published list at
    /// 10 steps, else the timestep of each interpolated σ (log-σ interpolation over <paramref name="schedule"/>'s σ,
    /// rounded), where two round to the same step only the first is kept.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="steps"/> is below 1.</exception>
    /// <exception cref="NotSupportedException">The model's schedule was published as σ only.</exception>
    public static double[] Timesteps(AlignYourStepsModel model, int steps, NoiseSchedule schedule)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentNullException.ThrowIfNull(schedule);
        var published = PublishedTimesteps(model)
            ?? throw new NotSupportedException($"The Align Your Steps schedule of {model} was published as noise levels only; it has no timestep list.");
        if (steps == PublishedSteps) return published.ToArray();
        var sigmas = Sigmas(model, steps);
        var logSigmas = SigmaMath.LogSigmas(schedule);
        var timesteps = new List<double>(steps);
        for (var i = 0; i < steps; i++)
        {
            var t = Math.Round(SigmaMath.SigmaToTimestep(sigmas[i], logSigmas));
            if (timesteps.Count == 0 || t < timesteps[^1]) timesteps.Add(t);
        }
        return timesteps.ToArray();
    }

    /// <summary>
    /// The paper's <c>loglinear_interp</c>: <paramref name="count"/> values from a strictly decreasing positive list,
    /// linear in log value over the normalized position (both ends kept). Computed as the authors' numpy code does
    /// (<c>linspace</c>, then <c>interp</c>'s slope·(x − x_j) + y_j on the reversed list, then <c>exp</c>), so the values
    /// match theirs to the last bits of double precision.
    /// </summary>
    /// <exception cref="ArgumentException">The list has fewer than two values, or is not strictly decreasing and positive.</exception>
    public static double[] LogLinearInterpolate(IReadOnlyList<double> decreasing, int count)
    {
        ArgumentNullException.ThrowIfNull(decreasing);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (decreasing.Count < 2) throw new ArgumentException("Interpolation needs at least two values.", nameof(decreasing));
        for (var i = 0; i < decreasing.Count; i++)
            if (!(decreasing[i] > 0 && double.IsFinite(decreasing[i])) || (i > 0 && !(decreasing[i] < decreasing[i - 1])))
                throw new ArgumentException($"The values must be positive, finite and strictly decreasing (entry {i} is {decreasing[i]}).", nameof(decreasing));
        // Ascending in position, as numpy's interp wants: the list reversed, in log.
        var n = decreasing.Count;
        var xs = TimestepSpacings.Linspace(0, 1, n);
        var ys = new double[n];
        for (var i = 0; i < n; i++) ys[i] = Math.Log(decreasing[n - 1 - i]);
        var at = TimestepSpacings.Linspace(0, 1, count);
        var result = new double[count];
        for (var k = 0; k < count; k++) result[count - 1 - k] = Math.Exp(NumpyInterp(at[k], xs, ys));
        return result;
    }

    // numpy's interp on an ascending table: the segment j with xs[j] <= x < xs[j+1], slope·(x − xs[j]) + ys[j]; the
    // last point exactly at its end. (SigmaMath.Interpolate rounds as y_j + w·(y_{j+1} − y_j), which can differ in the last bit.)
    private static double NumpyInterp(double x, double[] xs, double[] ys)
    {
        if (x <= xs[0]) return ys[0];
        if (x >= xs[^1]) return ys[^1];
        var j = 0;
        while (xs[j + 1] <= x) j++;
        var slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j]);
        return slope * (x - xs[j]) + ys[j];
    }

    private static ArgumentOutOfRangeException Unknown(AlignYourStepsModel model) =>
        new(nameof(model), model, "StableDiffusion, StableDiffusionXL or StableVideoDiffusion.");
}
