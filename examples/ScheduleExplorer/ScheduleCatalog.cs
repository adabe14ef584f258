using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace ScheduleExplorer;

/// <summary>A schedule to draw: its label in the figure and table, the family it belongs to, and the schedule itself.</summary>
/// <param name="Label">E.g. <c>cosine</c>, <c>linear + Karras</c>, <c>scaled-linear + zero-SNR</c>.</param>
/// <param name="Family">The base schedule's name (one colour per family in the figure).</param>
/// <param name="Variant">Which variant of the family this is.</param>
/// <param name="Schedule">The schedule's derived quantities.</param>
public sealed record NamedSchedule(string Label, string Family, ScheduleVariant Variant, NoiseSchedule Schedule);

/// <summary>The variants the explorer can draw next to each base schedule.</summary>
public enum ScheduleVariant
{
    /// <summary>The schedule as its β formula defines it.</summary>
    Base,
    /// <summary>The same σ range re-spaced by Karras et al. 2022, eq. 5 (ρ = 7), one level per training timestep.</summary>
    Karras,
    /// <summary>Rescaled to zero terminal SNR (Lin et al. 2023, Algorithm 1).</summary>
    ZeroTerminalSnr,
}

/// <summary>The schedules the explorer knows by name, each with the β range it is usually trained with.</summary>
public static class ScheduleCatalog
{
    /// <summary>Every name, in the order the figure draws them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["linear", "cosine", "sigmoid", "quadratic", "exponential", "scaled-linear"];

    /// <summary>The β schedule kind and default (β_start, β_end) of a name.</summary>
    /// <remarks>
    /// Linear, sigmoid, quadratic and exponential use DDPM's 1e-4 … 0.02 (Ho et al. 2020); scaled-linear uses Stable
    /// Diffusion's 0.00085 … 0.012; the cosine schedule (Nichol &amp; Dhariwal 2021) has no β range.
    /// </remarks>
    public static (BetaSchedule Kind, double BetaStart, double BetaEnd) Definition(string name) => name switch
    {
        "linear" => (BetaSchedule.Linear, 1e-4, 0.02),
        "cosine" => (BetaSchedule.SquaredCosCapV2, 1e-4, 0.02),
        "sigmoid" => (BetaSchedule.Sigmoid, 1e-4, 0.02),
        "quadratic" => (BetaSchedule.Quadratic, 1e-4, 0.02),
        "exponential" => (BetaSchedule.Exponential, 1e-4, 0.02),
        "scaled-linear" => (BetaSchedule.ScaledLinear, 0.00085, 0.012),
        _ => throw new ArgumentException($"Unknown schedule '{name}'. Known: {string.Join(", ", Names)}.", nameof(name)),
    };

    /// <summary>The base schedule of a name for T training timesteps, with an optional β range in place of its default.</summary>
    public static NoiseSchedule Create(string name, int numTrainTimesteps, double? betaStart = null, double? betaEnd = null)
    {
        var (kind, start, end) = Definition(name);
        return new NoiseSchedule(BetaSchedules.Create(kind, numTrainTimesteps, betaStart ?? start, betaEnd ?? end));
    }

    /// <summary>
    /// The schedules to draw: each name's base schedule, followed by its Karras and zero-terminal-SNR variants when asked.
    /// </summary>
    public static IReadOnlyList<NamedSchedule> Build(IEnumerable<string> names, int numTrainTimesteps, bool karras, bool zeroTerminalSnr, double? betaStart = null, double? betaEnd = null)
    {
        ArgumentNullException.ThrowIfNull(names);
        var result = new List<NamedSchedule>();
        foreach (var name in names)
        {
            var (kind, start, end) = Definition(name);
            var betas = BetaSchedules.Create(kind, numTrainTimesteps, betaStart ?? start, betaEnd ?? end);
            var schedule = new NoiseSchedule(betas);
            result.Add(new NamedSchedule(name, name, ScheduleVariant.Base, schedule));
            if (karras) result.Add(new NamedSchedule($"{name} + Karras", name, ScheduleVariant.Karras, KarrasSpaced(schedule)));
            if (zeroTerminalSnr)
            {
                BetaSchedules.RescaleZeroTerminalSnr(betas);
                result.Add(new NamedSchedule($"{name} + zero-SNR", name, ScheduleVariant.ZeroTerminalSnr, new NoiseSchedule(betas)));
            }
        }
        return result;
    }

    /// <summary>
    /// The schedule whose σ_t = √((1 − ᾱ_t)/ᾱ_t) are <paramref name="schedule"/>'s σ range [σ_0, σ_{T−1}] re-spaced
    /// with <see cref="SigmaMath.Karras"/>, ascending in t: ᾱ_t = 1/(1 + σ_t²), β_t = 1 − ᾱ_t/ᾱ_{t−1}. It is what a
    /// sampler with Karras sigmas would visit if it took one step per training timestep.
    /// </summary>
    public static NoiseSchedule KarrasSpaced(NoiseSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        var n = schedule.NumTrainTimesteps;
        if (n < 2) return schedule;
        var sigmas = SigmaMath.Karras(schedule.Sigmas[0], schedule.Sigmas[n - 1], n);   // σ_max first
        var betas = new double[n];
        var previous = 1.0;
        for (var t = 0; t < n; t++)
        {
            var sigma = sigmas[n - 1 - t];
            var alphaBar = 1 / (1 + sigma * sigma);
            betas[t] = Math.Clamp(1 - alphaBar / previous, 0, 1);
            previous = alphaBar;
        }
        return new NoiseSchedule(betas);
    }
}
