using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The σ shifts of flow-matching (rectified-flow) schedules, σ ∈ [0, 1]: the constant shift of Stable Diffusion 3
/// (Esser et al. 2024, §5.3.2: σ ↦ s·σ/(1 + (s − 1)·σ), more steps at high noise for larger images), the
/// resolution-dependent shift by μ (Flux: e^μ/(e^μ + 1/σ − 1), or linear μ/(μ + 1/σ − 1)), the stretch that makes a
/// schedule end at a chosen σ (LTX-Video's <c>shift_terminal</c>), and μ from the image size. Each comes in double
/// (the reference's numpy float64 path, taken when it computes the σ itself) and float32 (its path for a list the
/// caller passes, which numpy keeps in float32).
/// </summary>
public static class FlowShift
{
    /// <summary>The constant shift s·σ/(1 + (s − 1)·σ) in double.</summary>
    public static double Constant(double sigma, double shift) => shift * sigma / (1 + (shift - 1) * sigma);

    /// <summary>The constant shift in float32, s and s − 1 rounded to float32 first (a Python scalar meeting a float32 array).</summary>
    public static float Constant(float sigma, double shift) => (float)shift * sigma / (1 + (float)(shift - 1) * sigma);

    /// <summary>The resolution-dependent shift in double: e^μ/(e^μ + (1/σ − 1)) (<paramref name="linear"/>: μ/(μ + (1/σ − 1))).</summary>
    public static double Dynamic(double sigma, double mu, bool linear)
    {
        var a = linear ? mu : Math.Exp(mu);
        return a / (a + (1 / sigma - 1));
    }

    /// <summary>The resolution-dependent shift in float32 (e^μ rounded to float32 first).</summary>
    public static float Dynamic(float sigma, double mu, bool linear)
    {
        var a = (float)(linear ? mu : Math.Exp(mu));
        return a / (a + (1 / sigma - 1));
    }

    /// <summary>
    /// The flow σ of the reference's DPM-Solver family with <c>use_flow_sigmas</c> (multistep, single-step, inversion):
    /// 1 − linspace(1, 1/N, n + 1) in double, shifted by s·σ/(1 + (s − 1)·σ), descending, without the final 0. The
    /// timesteps the reference shows the network are σ·N (truncated to integers by its cast).
    /// </summary>
    public static double[] SolverFlowSigmas(int count, int numTrainTimesteps, double shift)
    {
        var alphas = TimestepSpacings.Linspace(1, 1.0 / numTrainTimesteps, count + 1);
        var sigmas = new double[count];
        for (var i = 0; i < count; i++) sigmas[i] = Constant(1.0 - alphas[count - i], shift);
        return sigmas;
    }

    /// <summary>
    /// Stretches a descending schedule so that its last σ becomes <paramref name="terminal"/>: σ ← 1 − (1 − σ)/k with
    /// k = (1 − σ_last)/(1 − terminal), in place (double).
    /// </summary>
    public static void StretchToTerminal(Span<double> sigmas, double terminal)
    {
        var scale = (1 - sigmas[^1]) / (1 - terminal);
        for (var i = 0; i < sigmas.Length; i++) sigmas[i] = 1 - (1 - sigmas[i]) / scale;
    }

    /// <summary><see cref="StretchToTerminal(Span{double}, double)"/> in float32.</summary>
    public static void StretchToTerminal(Span<float> sigmas, double terminal)
    {
        var scale = (1 - sigmas[^1]) / (float)(1 - terminal);
        for (var i = 0; i < sigmas.Length; i++) sigmas[i] = 1 - (1 - sigmas[i]) / scale;
    }

    /// <summary>
    /// μ for an image of <paramref name="imageSeqLen"/> latent tokens (height × width / patch²), linear between
    /// (<c>base_image_seq_len</c>, <c>base_shift</c>) = (256, 0.5) and (<c>max_image_seq_len</c>, <c>max_shift</c>) =
    /// (4096, 1.15) by default, as the reference's Flux and SD3 pipelines compute it.
    /// </summary>
    public static double Mu(int imageSeqLen, SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(imageSeqLen);
        double baseLen = config.BaseImageSeqLen ?? 256, maxLen = config.MaxImageSeqLen ?? 4096;
        double baseShift = config.BaseShift ?? 0.5, maxShift = config.MaxShift ?? 1.15;
        if (!(maxLen > baseLen))
            throw new SchedulerConfigException("max_image_seq_len", maxLen.ToString(System.Globalization.CultureInfo.InvariantCulture), $"a value above base_image_seq_len = {baseLen}");
        var slope = (maxShift - baseShift) / (maxLen - baseLen);
        var intercept = baseShift - slope * baseLen;
        return imageSeqLen * slope + intercept;
    }
}
