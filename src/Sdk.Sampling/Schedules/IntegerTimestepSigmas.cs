using System.Globalization;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>How a sampler spaces its noise levels: at the spaced training timesteps, or by one of the σ spacings.</summary>
public enum SigmaSpacing
{
    /// <summary>σ of each timestep that <c>timestep_spacing</c> chooses.</summary>
    Timesteps,
    /// <summary>Karras et al. 2022, eq. 5 (<c>use_karras_sigmas</c>).</summary>
    Karras,
    /// <summary>Geometric between σ_max and σ_min (<c>use_exponential_sigmas</c>).</summary>
    Exponential,
    /// <summary>Beta(0.6, 0.6) quantiles between σ_min and σ_max (<c>use_beta_sigmas</c>).</summary>
    Beta,
}

/// <summary>
/// The noise-level table of the samplers that show the network whole training timesteps but step in σ (DPM-Solver,
/// UniPC, DEIS): σ_t = √((1−ᾱ_t)/ᾱ_t) for every training step, the σ spacings over the whole table, and the
/// timestep the network is shown for each σ.
/// </summary>
/// <remarks>
/// The table is built from the reference's float32 ᾱ and held as float32 values, as the reference holds it: σ-derived
/// timesteps are rounded or truncated to integers, and a σ a hair off moves a truncated timestep by one.
/// A zero-terminal-SNR schedule (ᾱ = 0 at the end, σ = ∞) takes ᾱ = <see cref="SigmaMath.ZeroTerminalSnrAlphaCumprod"/> there.
/// </remarks>
public sealed class IntegerTimestepSigmas
{
    private readonly double[] _sigmas, _indices;
    private readonly float[] _logSigmas32, _lambdas32;

    /// <summary>The table of the schedule that <paramref name="config"/> describes.</summary>
    public IntegerTimestepSigmas(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var alphasCumprod = Float32Schedule.AlphasCumprod(config);
        if (config.RescaleBetasZeroSnr) alphasCumprod[^1] = SigmaMath.ZeroTerminalSnrAlphaCumprod;
        _sigmas = new double[alphasCumprod.Length];
        _indices = new double[alphasCumprod.Length];
        _lambdas32 = new float[alphasCumprod.Length];
        for (var t = 0; t < _sigmas.Length; t++)
        {
            var alphaBar = (float)alphasCumprod[t];
            _sigmas[t] = MathF.Sqrt((1 - alphaBar) / alphaBar);
            _indices[t] = t;
            // λ_t = log √ᾱ − log √(1−ᾱ) as the reference's training table holds it (torch's float32), for lambda_min_clipped.
            _lambdas32[t] = VpFloat32.Lambda(MathF.Sqrt(alphaBar), MathF.Sqrt(1 - alphaBar));
        }
        _logSigmas32 = ReferenceFloat32.LogSigmas(_sigmas);
    }

    /// <summary>σ_t for t = 0 … T−1, ascending.</summary>
    public ReadOnlySpan<double> TrainingSigmas => _sigmas;

    /// <summary>σ at training step 0.</summary>
    public double SigmaMin => _sigmas[0];

    /// <summary>σ at training step T−1.</summary>
    public double SigmaMax => _sigmas[^1];

    /// <summary>
    /// The spacing a configuration asks for; throws <see cref="SchedulerConfigException"/> when more than one of
    /// <c>use_karras_sigmas</c>, <c>use_exponential_sigmas</c> and <c>use_beta_sigmas</c> is on.
    /// </summary>
    public static SigmaSpacing SpacingOf(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        bool karras = config.UseKarrasSigmas ?? false, exponential = config.UseExponentialSigmas ?? false, beta = config.UseBetaSigmas ?? false;
        if ((karras ? 1 : 0) + (exponential ? 1 : 0) + (beta ? 1 : 0) > 1)
            throw new SchedulerConfigException(karras ? "use_karras_sigmas" : "use_exponential_sigmas", "true",
                "at most one of use_karras_sigmas, use_exponential_sigmas and use_beta_sigmas set to true");
        return karras ? SigmaSpacing.Karras : exponential ? SigmaSpacing.Exponential : beta ? SigmaSpacing.Beta : SigmaSpacing.Timesteps;
    }

    /// <summary>
    /// <paramref name="count"/> noise levels of <paramref name="spacing"/> from σ_max down to σ_min, whose defaults are the
    /// ends of the whole training table (so <c>timestep_spacing</c> and <c>steps_offset</c> do not change them).
    /// </summary>
    public double[] Spaced(SigmaSpacing spacing, int count, double? sigmaMin = null, double? sigmaMax = null)
    {
        double low = sigmaMin ?? SigmaMin, high = sigmaMax ?? SigmaMax;
        if (!(low > 0) || !(low < high))
            throw new SchedulerConfigException("sigma_min", low.ToString("R", CultureInfo.InvariantCulture),
                $"a number > 0 and below sigma_max = {high.ToString("R", CultureInfo.InvariantCulture)}");
        return spacing switch
        {
            SigmaSpacing.Karras => SigmaMath.Karras(low, high, count),
            SigmaSpacing.Exponential => SigmaMath.Exponential(low, high, count),
            SigmaSpacing.Beta => SigmaMath.Beta(low, high, count),
            _ => throw new ArgumentOutOfRangeException(nameof(spacing), spacing, "Timestep spacing has no σ formula; use SigmasAt."),
        };
    }

    /// <summary>
    /// The whole training timestep the network is shown for each σ: the fractional timestep by the reference's float32
    /// log-σ interpolation (<see cref="ReferenceFloat32.SigmaToTimestep"/>: a σ a hair off the reference's moves a
    /// truncated timestep by one), rounded half to even for Karras σ and truncated for the others, as the reference
    /// does. Neighbouring σ may share a timestep.
    /// </summary>
    public double[] TimestepsFor(ReadOnlySpan<double> sigmas, SigmaSpacing spacing)
    {
        var timesteps = new double[sigmas.Length];
        for (var i = 0; i < timesteps.Length; i++)
        {
            var t = ReferenceFloat32.SigmaToTimestep(sigmas[i], _logSigmas32);
            timesteps[i] = spacing == SigmaSpacing.Karras ? Math.Round(t, MidpointRounding.ToEven) : Math.Truncate(t);
        }
        return timesteps;
    }

    /// <summary>σ at each timestep, by linear interpolation of the table (exact at whole timesteps).</summary>
    public double[] SigmasAt(ReadOnlySpan<double> timesteps)
    {
        var sigmas = new double[timesteps.Length];
        for (var i = 0; i < sigmas.Length; i++) sigmas[i] = SigmaAt(timesteps[i]);
        return sigmas;
    }

    /// <summary>σ at one timestep, by linear interpolation of the table (exact at whole timesteps).</summary>
    public double SigmaAt(double timestep) => SigmaMath.Interpolate(timestep, _indices, _sigmas);

    /// <summary>
    /// The position of <paramref name="timestep"/> in <paramref name="timesteps"/>, the second one where it occurs more
    /// than once (the reference's choice when noise is added at a repeated timestep), or −1 when it does not occur.
    /// </summary>
    public static int IndexOf(IReadOnlyList<double> timesteps, double timestep)
    {
        ArgumentNullException.ThrowIfNull(timesteps);
        var first = -1;
        for (var i = 0; i < timesteps.Count; i++)
        {
            if (timesteps[i] != timestep) continue;
            if (first >= 0) return i;
            first = i;
        }
        return first;
    }

    /// <summary>Variance-preserving α = 1/√(1+σ²) and σ_vp = σ·α for a variance-exploding σ.</summary>
    public static (double Alpha, double Sigma) AlphaSigma(double sigma)
    {
        var alpha = 1 / Math.Sqrt(sigma * sigma + 1);
        return (alpha, sigma * alpha);
    }

    /// <summary>λ = log(α/σ_vp) = −log σ, half the log-SNR (+∞ at σ = 0).</summary>
    public static double Lambda(double sigma) => -Math.Log(sigma);

    /// <summary>
    /// How many training timesteps <c>lambda_min_clipped</c> leaves (0 … end − 1): those whose λ_t = log √ᾱ_t − log √(1−ᾱ_t)
    /// (the reference's float32) is not below <paramref name="lambdaMinClipped"/>. The noisiest timesteps of the cosine
    /// schedule have λ far below the rest, and the multistep solvers leave them out for numerical stability.
    /// </summary>
    public int UnclippedCount(double lambdaMinClipped)
    {
        var clipped = 0;
        foreach (var lambda in _lambdas32)
            if (lambda < lambdaMinClipped) clipped++;
        return _lambdas32.Length - clipped;
    }

    /// <summary>
    /// n timesteps of <paramref name="spacing"/> as the multistep solvers space them: <c>linspace</c> and <c>leading</c>
    /// lay out n + 1 points and drop the last (so no step starts at t = 0), <c>trailing</c> starts at T−1 and steps
    /// by T/n. Throws <see cref="SchedulerConfigException"/> when the count makes a timestep repeat or leave [0, T−1].
    /// </summary>
    public static double[] SpacedTimesteps(TimestepSpacing spacing, int numTrainTimesteps, int numInferenceSteps, int stepsOffset) =>
        SpacedTimesteps(spacing, numTrainTimesteps, numInferenceSteps, stepsOffset, numTrainTimesteps);

    /// <summary>
    /// As <see cref="SpacedTimesteps(TimestepSpacing, int, int, int)"/> over training timesteps 0 … <paramref name="end"/> − 1
    /// only (the reference's <c>last_timestep</c>: <see cref="UnclippedCount"/> with <c>lambda_min_clipped</c>):
    /// <c>linspace</c> spans 0 … end − 1, <c>leading</c> steps by end // (n + 1), <c>trailing</c> starts at end − 1 and
    /// still steps by T/n.
    /// </summary>
    public static double[] SpacedTimesteps(TimestepSpacing spacing, int numTrainTimesteps, int numInferenceSteps, int stepsOffset, int end)
    {
        SchedulerConfigValidation.ValidateInferenceSteps(numInferenceSteps, numTrainTimesteps);
        if (end < 1 || end > numTrainTimesteps) throw new ArgumentOutOfRangeException(nameof(end), end, $"Must be in [1, {numTrainTimesteps}].");
        var n = numInferenceSteps;
        double[] timesteps;
        switch (spacing)
        {
            case TimestepSpacing.Linspace:
            {
                var points = TimestepSpacings.Linspace(0, end - 1, n + 1);
                timesteps = new double[n];
                for (var i = 0; i < n; i++) timesteps[i] = Math.Round(points[n - i]);
                break;
            }
            case TimestepSpacing.Leading:
            {
                var ratio = end / (n + 1);
                timesteps = new double[n];
                for (var i = 0; i < n; i++) timesteps[i] = (n - i) * ratio + stepsOffset;
                break;
            }
            default:
            {
                // numpy's arange(end, 0, −T/n), rounded, minus one.
                var ratio = (double)numTrainTimesteps / n;
                var length = (int)Math.Ceiling(end / ratio);
                timesteps = new double[length];
                for (var i = 0; i < length; i++) timesteps[i] = Math.Round(end - i * ratio) - 1;
                break;
            }
        }

        for (var i = 0; i < timesteps.Length; i++)
        {
            if (timesteps[i] < 0 || timesteps[i] > numTrainTimesteps - 1 || (i > 0 && !(timesteps[i] < timesteps[i - 1])))
            {
                // The reference would repeat a timestep here: that step has h = 0, and a multistep solver's next step
                // divides by it. Refuse instead.
                var clip = end < numTrainTimesteps ? $"; lambda_min_clipped leaves timesteps 0–{end - 1}" : "";
                var most = spacing == TimestepSpacing.Trailing ? "" : $" (at most {end - 1})";
                throw new SchedulerConfigException("num_inference_steps", n.ToString(CultureInfo.InvariantCulture),
                    $"a count{most} whose \"{ConfigNames.Of(spacing)}\" timesteps are distinct and within [0, {numTrainTimesteps - 1}]{clip}");
            }
        }
        return timesteps;
    }
}
