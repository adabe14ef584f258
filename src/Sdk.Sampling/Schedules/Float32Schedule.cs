using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The noise schedule at the precision the reference keeps it: float32 betas (for <c>linear</c> and
/// <c>scaled_linear</c> made as torch's CPU <c>linspace</c> makes them), α = 1 − β rounded to float32, and ᾱ as a
/// running product accumulated in double with every value stored as float32 (torch's CPU <c>cumprod</c>).
/// </summary>
/// <remarks>
/// <see cref="NoiseSchedule"/> is exact to double precision and right wherever results are compared with a
/// tolerance. Use this where the reference's rounding decides a discrete outcome: a float32 α near 1 is off by up
/// to 3e-8, which accumulates to ~1e-5 in ᾱ late in the schedule (6.5e-6 in σ_max of the cosine schedule) and moves
/// timesteps derived from σ (Karras spacing) by ~1e-3, many float32 units; a step must then be called with exactly
/// the reference's float32 timestep. Checked bit for bit against every σ of the bundled Euler reference vectors.
/// </remarks>
public static class Float32Schedule
{
    /// <summary>ᾱ_t for every training timestep t, as float32 values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double[] AlphasCumprod(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var betas = Betas(config);
        var result = new double[betas.Length];
        var product = 1.0;
        for (var t = 0; t < betas.Length; t++)
        {
            product *= 1f - (float)betas[t];
            result[t] = (float)product;
        }
        return result;
    }

    /// <summary>β_t as float32 values, rescaled to zero terminal SNR when the configuration asks for it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double[] Betas(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        double[] betas;
        if (config.TrainedBetas is null && config.BetaSchedule is BetaSchedule.Linear or BetaSchedule.ScaledLinear)
        {
            var scaled = config.BetaSchedule == BetaSchedule.ScaledLinear;
            var linear = TorchLinspace(
                (float)(scaled ? Math.Sqrt(config.BetaStart) : config.BetaStart),
                (float)(scaled ? Math.Sqrt(config.BetaEnd) : config.BetaEnd), config.NumTrainTimesteps);
            betas = new double[linear.Length];
            for (var i = 0; i < betas.Length; i++) betas[i] = scaled ? linear[i] * linear[i] : linear[i];
        }
        else
        {
            betas = config.TrainedBetas?.ToArray() ?? BetaSchedules.Create(config.BetaSchedule, config.NumTrainTimesteps, config.BetaStart, config.BetaEnd);
            for (var i = 0; i < betas.Length; i++) betas[i] = (float)betas[i];
        }
        if (config.RescaleBetasZeroSnr) RescaleZeroTerminalSnr(betas);
        return betas;
    }

    // BetaSchedules.RescaleZeroTerminalSnr in the reference's float32 tensor arithmetic: shift √ᾱ so its last value
    // is 0, scale it so its first is unchanged, and turn ᾱ back into β.
    private static void RescaleZeroTerminalSnr(double[] betas)
    {
        var sqrtAlphaBar = new float[betas.Length];
        var product = 1.0;
        for (var t = 0; t < betas.Length; t++)
        {
            product *= 1f - (float)betas[t];
            sqrtAlphaBar[t] = MathF.Sqrt((float)product);
        }
        float first = sqrtAlphaBar[0], last = sqrtAlphaBar[^1];
        var scale = first / (first - last);
        var previous = 0f;
        for (var t = 0; t < betas.Length; t++)
        {
            var shifted = (sqrtAlphaBar[t] - last) * scale;
            var alphaBar = shifted * shifted;
            betas[t] = 1f - (t == 0 ? alphaBar : alphaBar / previous);
            previous = alphaBar;
        }
    }

    /// <summary>
    /// <c>torch.linspace(start, end, steps, dtype=float32)</c> as its AVX2 CPU kernel computes it: step = (end − start)/(steps − 1)
    /// in float; the first half counts up from start and the second half down from end, each value as a fused
    /// multiply-add; blocks of 8 start from such a value and add j·step (fused) for the rest, 16 values per round,
    /// and the values after the last full round of 16 are computed one by one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float[] TorchLinspace(float start, float end, int steps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        var result = new float[steps];
        if (steps == 1)
        {
            result[0] = start;
            return result;
        }
        var step = (end - start) / (steps - 1);
        var halfway = steps / 2;
        float At(int i) => i < halfway ? MathF.FusedMultiplyAdd(step, i, start) : MathF.FusedMultiplyAdd(-step, steps - i - 1, end);

        var vectorised = steps / 16 * 16;
        for (var i = 0; i < vectorised; i += 8)
        {
            var first = At(i);
            for (var j = 0; j < 8; j++) result[i + j] = MathF.FusedMultiplyAdd(j, step, first);
        }
        for (var i = vectorised; i < steps; i++) result[i] = At(i);
        return result;
    }
}
