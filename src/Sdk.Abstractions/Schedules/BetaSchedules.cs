using System.Runtime.CompilerServices;

namespace Diffusion.Sdk.Abstractions;

/// <summary>The β_t sequences of the supported <see cref="BetaSchedule"/> kinds, computed in double precision.</summary>
public static class BetaSchedules
{
    /// <summary>Largest β the cosine schedule may produce; larger values make ᾱ collapse to zero (Nichol &amp; Dhariwal 2021, §3.2).</summary>
    public const double CosineMaxBeta = 0.999;

    /// <summary>The offset s of the cosine schedule, which keeps β_0 from being vanishingly small.</summary>
    public const double CosineOffset = 0.008;

    /// <summary>The betas a configuration describes: its trained betas, or its schedule, then the zero-terminal-SNR rescale if asked.</summary>
    public static double[] FromConfig(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var betas = config.TrainedBetas?.ToArray() ?? Create(config.BetaSchedule, config.NumTrainTimesteps, config.BetaStart, config.BetaEnd);
        if (config.RescaleBetasZeroSnr) RescaleZeroTerminalSnr(betas);
        return betas;
    }

    /// <summary>Betas of <paramref name="kind"/> for <paramref name="count"/> training timesteps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double[] Create(BetaSchedule kind, int count, double betaStart, double betaEnd)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var betas = new double[count];
        double sqrtStart = Math.Sqrt(betaStart), sqrtEnd = Math.Sqrt(betaEnd);
        for (var i = 0; i < count; i++)
        {
            // Fraction of the way through training, 0 at the first timestep and 1 at the last.
            var f = count == 1 ? 0.0 : (double)i / (count - 1);
            betas[i] = kind switch
            {
                BetaSchedule.Linear => betaStart + f * (betaEnd - betaStart),
                BetaSchedule.ScaledLinear => Square(sqrtStart + f * (sqrtEnd - sqrtStart)),
                BetaSchedule.SquaredCosCapV2 => Math.Min(1 - CosineAlphaBar((i + 1.0) / count) / CosineAlphaBar((double)i / count), CosineMaxBeta),
                BetaSchedule.Sigmoid => Sigmoid(-6 + 12 * f) * (betaEnd - betaStart) + betaStart,
                BetaSchedule.Quadratic => betaStart + f * f * (betaEnd - betaStart),
                BetaSchedule.Exponential => betaStart * Math.Pow(betaEnd / betaStart, f),
                _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a defined beta schedule."),
            };
        }
        return betas;
    }

    /// <summary>
    /// Rescales betas in place so that the last timestep has zero SNR while the first keeps its value
    /// ("Common Diffusion Noise Schedules and Sample Steps are Flawed", Lin et al. 2023, Algorithm 1):
    /// √ᾱ is shifted so its last value is 0 and scaled so its first value is unchanged.
    /// </summary>
    public static void RescaleZeroTerminalSnr(Span<double> betas)
    {
        var n = betas.Length;
        if (n < 2) return;
        Span<double> sqrtAlphaBar = n <= 4096 ? stackalloc double[n] : new double[n];
        var product = 1.0;
        for (var i = 0; i < n; i++)
        {
            product *= 1 - betas[i];
            sqrtAlphaBar[i] = Math.Sqrt(product);
        }
        double first = sqrtAlphaBar[0], last = sqrtAlphaBar[n - 1];
        var scale = first / (first - last);
        for (var i = 0; i < n; i++) sqrtAlphaBar[i] = (sqrtAlphaBar[i] - last) * scale;

        // Back from ᾱ to β: α_t = ᾱ_t / ᾱ_{t−1}, with α_0 = ᾱ_0.
        var previous = 1.0;
        for (var i = 0; i < n; i++)
        {
            var alphaBar = sqrtAlphaBar[i] * sqrtAlphaBar[i];
            betas[i] = 1 - alphaBar / previous;
            previous = alphaBar;
        }
    }

    // ᾱ(t) = cos²((t + s)/(1 + s) · π/2) of the cosine schedule, t in [0, 1].
    private static double CosineAlphaBar(double t) => Square(Math.Cos((t + CosineOffset) / (1 + CosineOffset) * Math.PI / 2));

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    private static double Square(double x) => x * x;
}
